package dev.dsv2.it;

import java.util.List;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link ServiceProcess#picksCollector}: the service JVMs get the parallel collector unless a flag picks one. */
class ServiceProcessTest {
    @Test
    void aCollectorFlagIsSeen() {
        assertTrue(ServiceProcess.picksCollector(List.of("-Xmx2g", "-XX:+UseG1GC")));
        assertTrue(ServiceProcess.picksCollector(List.of("-XX:+UseZGC")));
        assertTrue(ServiceProcess.picksCollector(List.of("-XX:+UseSerialGC", "-Dx=y")));
    }

    @Test
    void otherFlagsLeaveTheDefault() {
        assumeTrue(System.getenv("JAVA_TOOL_OPTIONS") == null, "JAVA_TOOL_OPTIONS is set here");
        assertFalse(ServiceProcess.picksCollector(List.of()));
        assertFalse(ServiceProcess.picksCollector(List.of("-Xmx2g", "-XX:-UseCompressedOops", "-Ddsv2.gc=G1GC")));
    }
}
