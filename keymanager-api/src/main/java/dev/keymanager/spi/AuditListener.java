package dev.keymanager.spi;

/**
 * Receives one {@link AuditEvent} per KMS call and per KEK lifecycle step a key manager makes, for
 * an audit trail (a SIEM, a database table, a metrics system). Register it with {@code
 * KeyManagers.builder().auditListener(...)}.
 *
 * <p>Every key manager also writes each event to the SLF4J logger {@code dev.keymanager.audit}
 * (successes at INFO, failures at WARN); a listener comes in addition to that line. Events never
 * carry key material.
 *
 * <p>Called synchronously on the thread that made the call, after the call finished, so keep it
 * fast; it must be thread-safe. An exception it throws is logged and otherwise ignored: auditing
 * never changes the outcome of the operation.
 */
@FunctionalInterface
public interface AuditListener {
  /** Handles one event. */
  void onEvent(AuditEvent event);
}
