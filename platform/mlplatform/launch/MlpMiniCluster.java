// One-machine Hadoop for mlplatform: a MiniDFSCluster (NameNode + DataNode) and a
// MiniYARNCluster (ResourceManager + NodeManager) in one JVM.
//
// Hadoop's own "CLI MiniCluster" (MiniHadoopClusterManager) cannot start YARN from the
// shaded hadoop-client-minicluster jar (it needs MapReduce classes the jar leaves out),
// so mlplatform.hadoop compiles this launcher with javac and runs it in the background.
//
// Usage: MlpMiniCluster --base DIR --conf-dir DIR --state FILE [--nn-port N]
//        [--nn-http-port N] [--rm-port N] [--rm-web-port N] [-D key=value]...
// Port 0 lets the OS choose; the ports in use are written to the state file (JSON),
// which appears only once HDFS and YARN both answer. SIGTERM (or SIGINT) stops both
// cleanly, then the JVM exits.

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFs;
import org.apache.hadoop.fs.DelegateToFileSystem;
import org.apache.hadoop.fs.FsConstants;
import org.apache.hadoop.fs.FsServerDefaults;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.local.LocalConfigKeys;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

import sun.misc.Signal;

public final class MlpMiniCluster {

    /** Keys a client needs, per file of the generated HADOOP_CONF_DIR. */
    private static final String[] CORE_KEYS = {"fs.defaultFS", "hadoop.security.authentication"};
    private static final String[] HDFS_KEYS = {
        "dfs.namenode.rpc-address", "dfs.namenode.http-address", "dfs.replication",
        "dfs.webhdfs.enabled", "dfs.permissions.enabled",
    };
    private static final String[] YARN_KEYS = {
        "yarn.resourcemanager.hostname", "yarn.resourcemanager.address",
        "yarn.resourcemanager.scheduler.address", "yarn.resourcemanager.resource-tracker.address",
        "yarn.resourcemanager.admin.address", "yarn.resourcemanager.webapp.address",
        "yarn.scheduler.minimum-allocation-mb", "yarn.scheduler.maximum-allocation-mb",
        "yarn.scheduler.minimum-allocation-vcores", "yarn.scheduler.maximum-allocation-vcores",
        "yarn.log-aggregation-enable",
    };

    private MlpMiniCluster() {
    }

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            // Half-started services hold non-daemon threads: exit instead of lingering.
            System.err.println("mlp-minicluster: failed to start");
            t.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    private static void run(String[] args) throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        Map<String, String> defines = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + args[i] + " needs a value");
            }
            if (args[i].equals("-D")) {
                String[] kv = args[i + 1].split("=", 2);
                defines.put(kv[0], kv.length > 1 ? kv[1] : "");
            } else {
                opts.put(args[i].replaceFirst("^--", ""), args[i + 1]);
            }
        }
        quietLogs();
        Path base = Paths.get(require(opts, "base")).toAbsolutePath();
        Path confDir = Paths.get(require(opts, "conf-dir")).toAbsolutePath();
        Path state = Paths.get(require(opts, "state")).toAbsolutePath();

        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.resolve("dfs").toString());
        conf.set("dfs.replication", "1");
        conf.set("dfs.namenode.safemode.extension", "0");
        for (Map.Entry<String, String> e : defines.entrySet()) {
            conf.set(e.getKey(), e.getValue());
        }
        // A NameNode directory from an earlier run is reused: data survives down/up.
        boolean format = !Files.isDirectory(base.resolve("dfs").resolve("name-0-1").resolve("current"));
        MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf)
            .nameNodePort(intOpt(opts, "nn-port"))
            .nameNodeHttpPort(intOpt(opts, "nn-http-port"))
            .numDataNodes(1)
            .format(format)
            .checkExitOnShutdown(false)
            .build();
        dfs.waitActive();
        dfs.getFileSystem().mkdirs(new org.apache.hadoop.fs.Path("/tmp"));
        dfs.getFileSystem().setPermission(new org.apache.hadoop.fs.Path("/tmp"),
            new org.apache.hadoop.fs.permission.FsPermission((short) 01777));

        YarnConfiguration yconf = new YarnConfiguration(dfs.getConfiguration(0));
        yconf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, true);
        yconf.set(YarnConfiguration.RM_HOSTNAME, "localhost");
        yconf.set(YarnConfiguration.RM_ADDRESS, "localhost:" + intOpt(opts, "rm-port"));
        yconf.set(YarnConfiguration.RM_WEBAPP_ADDRESS, "localhost:" + intOpt(opts, "rm-web-port"));
        yconf.set(YarnConfiguration.RM_SCHEDULER_ADDRESS, "localhost:0");
        yconf.set(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, "localhost:0");
        yconf.set(YarnConfiguration.RM_ADMIN_ADDRESS, "localhost:0");
        yconf.set(YarnConfiguration.NM_ADDRESS, "localhost:0");
        yconf.set(YarnConfiguration.NM_LOCALIZER_ADDRESS, "localhost:0");
        yconf.set(YarnConfiguration.NM_WEBAPP_ADDRESS, "localhost:0");
        yconf.set(YarnConfiguration.NM_COLLECTOR_SERVICE_ADDRESS, "localhost:0");
        // The NodeManager chmods every file it localizes; without Hadoop's native library
        // that is one forked chmod per file (minutes for an environment archive).
        yconf.set("fs.AbstractFileSystem.file.impl", NioLocalFs.class.getName());
        for (Map.Entry<String, String> e : defines.entrySet()) {
            yconf.set(e.getKey(), e.getValue());
        }
        MiniYARNCluster yarn = new MiniYARNCluster("mlp", 1, 1, 1, 1);
        yarn.init(yconf);
        yarn.start();
        if (!yarn.waitForNodeManagersToConnect(60_000)) {
            throw new IllegalStateException("the NodeManager did not register with the ResourceManager within 60 s");
        }

        CountDownLatch stop = new CountDownLatch(1);
        Signal.handle(new Signal("TERM"), sig -> stop.countDown());
        Signal.handle(new Signal("INT"), sig -> stop.countDown());

        Configuration live = yarn.getConfig();
        Files.createDirectories(confDir);
        writeSite(confDir.resolve("core-site.xml"), live, CORE_KEYS);
        writeSite(confDir.resolve("hdfs-site.xml"), live, HDFS_KEYS);
        writeSite(confDir.resolve("yarn-site.xml"), live, YARN_KEYS);

        String nn = live.get("fs.defaultFS");
        Map<String, String> info = new LinkedHashMap<>();
        info.put("pid", Long.toString(ProcessHandle.current().pid()));
        info.put("fs_default", nn);
        info.put("namenode_http", "http://" + live.get("dfs.namenode.http-address"));
        info.put("resourcemanager", live.get(YarnConfiguration.RM_ADDRESS));
        info.put("resourcemanager_http", "http://" + live.get(YarnConfiguration.RM_WEBAPP_ADDRESS));
        info.put("conf_dir", confDir.toString());
        info.put("formatted", Boolean.toString(format));
        writeJson(state, info);
        System.err.println("mlp-minicluster: ready " + info);
        stop.await();
        System.err.println("mlp-minicluster: stopping YARN and HDFS");
        try {
            yarn.stop();
        } finally {
            // Not dfs.shutdown(): it marks the whole data directory for deletion at exit.
            dfs.shutdownDataNodes();
            dfs.shutdownNameNodes();
        }
        System.err.println("mlp-minicluster: stopped");
    }

    private static void quietLogs() {
        Properties p = new Properties();
        p.setProperty("log4j.rootLogger", "WARN, stderr");
        p.setProperty("log4j.appender.stderr", "org.apache.log4j.ConsoleAppender");
        p.setProperty("log4j.appender.stderr.Target", "System.err");
        p.setProperty("log4j.appender.stderr.layout", "org.apache.log4j.PatternLayout");
        p.setProperty("log4j.appender.stderr.layout.ConversionPattern", "%d{ISO8601} %p %c{1}: %m%n");
        // Expected on a one-machine cluster and noisy: missing native libraries, secret files.
        p.setProperty("log4j.logger.org.apache.hadoop.util.NativeCodeLoader", "ERROR");
        p.setProperty("log4j.logger.org.apache.hadoop.security.authentication.server.AuthenticationFilter", "ERROR");
        p.setProperty("log4j.logger.org.apache.hadoop.yarn.server.MiniYARNCluster", "INFO");
        org.apache.log4j.PropertyConfigurator.configure(p);
    }

    private static String require(Map<String, String> opts, String key) {
        String value = opts.get(key);
        if (value == null) {
            throw new IllegalArgumentException("missing --" + key);
        }
        return value;
    }

    private static int intOpt(Map<String, String> opts, String key) {
        return Integer.parseInt(opts.getOrDefault(key, "0"));
    }

    private static void writeSite(Path file, Configuration live, String[] keys) throws IOException {
        Configuration out = new Configuration(false);
        for (String key : keys) {
            String value = live.get(key);
            if (value != null) {
                out.set(key, value);
            }
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream os = Files.newOutputStream(tmp)) {
            out.writeXml(os);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeJson(Path file, Map<String, String> values) throws IOException {
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, String> e : values.entrySet()) {
            parts.add("\"" + e.getKey() + "\": \"" + e.getValue().replace("\\", "\\\\").replace("\"", "\\\"") + "\"");
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, ("{" + String.join(", ", parts) + "}\n").getBytes(StandardCharsets.UTF_8));
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The local file system, with permissions set through java.nio instead of a chmod process. */
    public static final class NioLocalFileSystem extends RawLocalFileSystem {
        @Override
        public void setPermission(org.apache.hadoop.fs.Path p, FsPermission permission) throws IOException {
            if (permission.getStickyBit()) {
                super.setPermission(p, permission);
                return;
            }
            Files.setPosixFilePermissions(pathToFile(p).toPath(), PosixFilePermissions.fromString(permission.toString()));
        }
    }

    /** ``file:`` for FileContext (the NodeManager's localizer): RawLocalFs over {@link NioLocalFileSystem}. */
    public static final class NioRawLocalFs extends DelegateToFileSystem {
        NioRawLocalFs(URI uri, Configuration conf) throws IOException, URISyntaxException {
            super(uri, new NioLocalFileSystem(), conf, FsConstants.LOCAL_FS_URI.getScheme(), false);
        }

        @Override
        public int getUriDefaultPort() {
            return -1;
        }

        @Override
        public FsServerDefaults getServerDefaults(org.apache.hadoop.fs.Path f) throws IOException {
            return LocalConfigKeys.getServerDefaults();
        }

        @Override
        @Deprecated
        public FsServerDefaults getServerDefaults() throws IOException {
            return LocalConfigKeys.getServerDefaults();
        }

        @Override
        public boolean isValidName(String src) {
            return true;
        }
    }

    /** LocalFs (checksummed) over {@link NioRawLocalFs}; named by fs.AbstractFileSystem.file.impl. */
    public static final class NioLocalFs extends ChecksumFs {
        public NioLocalFs(URI uri, Configuration conf) throws IOException, URISyntaxException {
            super(new NioRawLocalFs(uri, conf));
        }
    }
}
