package dev.dsv2.engine.device;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --device} accepts exactly auto, cpu, cuda and cuda:N; anything else is a precise error. */
class DeviceRequestTest {

    @Test
    void acceptsTheFourForms() {
        assertEquals(DeviceRequest.AUTO, DeviceRequest.parse("auto"));
        assertEquals(DeviceRequest.CPU, DeviceRequest.parse(" CPU "));
        assertEquals(DeviceRequest.cuda(0), DeviceRequest.parse("cuda"));
        assertEquals(DeviceRequest.cuda(3), DeviceRequest.parse("cuda:3"));
        assertEquals("cuda:0", DeviceRequest.parse("cuda").toString());
    }

    @Test
    void rejectsAnythingElseNamingTheValue() {
        for (String bad : new String[]{"gpu", "", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cuda0", "vector",
                "cuda:99999"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceRequest.parse(bad),
                    bad);
            assertTrue(e.getMessage().contains("'" + bad + "'") && e.getMessage().contains(DeviceRequest.VALID_FORMS),
                    e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> DeviceRequest.parse(null));
    }
}
