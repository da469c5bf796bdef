// Boxes of a lineage picture walk from their id (the edge tables below hold the same links).
document.querySelectorAll(".picture[data-lineage] g.node[data-id]").forEach(function (node) {
  var base = node.closest(".picture").getAttribute("data-lineage");
  node.addEventListener("click", function () {
    window.location.href = base + encodeURIComponent(node.getAttribute("data-id"));
  });
});
