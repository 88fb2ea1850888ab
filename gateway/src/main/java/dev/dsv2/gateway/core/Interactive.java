package dev.dsv2.gateway.core;

import jakarta.inject.Qualifier;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Qualifies the {@link InFlightLimit} of interactive traffic (the gRPC and HTTP APIs), configured by
 * {@code dsv2.gateway.max-in-flight}; batch traffic gets a limit of its own.
 */
@Qualifier
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.FIELD, ElementType.METHOD, ElementType.PARAMETER, ElementType.TYPE})
public @interface Interactive {
}
