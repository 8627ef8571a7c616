package dev.keymanager.spi;

import static java.util.Objects.requireNonNull;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * One KMS call or KEK lifecycle step, as an {@link AuditListener} receives it. Holds ids, versions,
 * URIs, the outcome and timing, never key material.
 *
 * @param time when the call or step started, on the key manager's clock
 * @param type what was done
 * @param kekId the KEK concerned
 * @param kekVersion the KEK version concerned, or 0 when the step concerns every version of the KEK
 *     (disable, destroy, ...) or failed before a version was known
 * @param cmkUri the CMK called or wrapping the KEK, when known
 * @param outcome how it ended
 * @param duration how long it took
 * @param correlationId the caller's {@link dev.keymanager.AuditCorrelation} id on the calling
 *     thread, if any
 * @param detail a short human-readable note without secrets: the state change and the versions it
 *     touched, counts, or the failure's type and message; may be empty
 */
public record AuditEvent(
    Instant time,
    Type type,
    String kekId,
    int kekVersion,
    Optional<URI> cmkUri,
    Outcome outcome,
    Duration duration,
    Optional<String> correlationId,
    String detail) {

  /** Checks for nulls and a negative version or duration. */
  public AuditEvent {
    requireNonNull(time, "time");
    requireNonNull(type, "type");
    requireNonNull(kekId, "kekId");
    requireNonNull(cmkUri, "cmkUri");
    requireNonNull(outcome, "outcome");
    requireNonNull(duration, "duration");
    requireNonNull(correlationId, "correlationId");
    requireNonNull(detail, "detail");
    if (kekVersion < 0 || duration.isNegative()) {
      throw new IllegalArgumentException("negative version or duration in audit event");
    }
  }

  /** What an event records. */
  public enum Type {
    /** A KMS call that unwrapped a KEK version. */
    KMS_UNWRAP(true),
    /** A KMS call that wrapped a KEK version. */
    KMS_WRAP(true),
    /** A new KEK was created. */
    CREATE(false),
    /** A customer-wrapped KEK version was imported. */
    IMPORT(false),
    /** A new primary version was created. */
    ROTATE(false),
    /** The minimum decryption version was set, retiring or restoring older versions. */
    SET_MINIMUM_DECRYPTION_VERSION(false),
    /** One DEK was rewrapped to the primary version. */
    REWRAP_DEK(false),
    /** A bulk rewrap ran (one event per call, with counts in the detail). */
    REWRAP_DEKS(false),
    /** The KEK's versions were re-wrapped under another CMK. */
    CHANGE_CMK(false),
    /** The KEK was disabled. */
    DISABLE(false),
    /** The KEK was enabled. */
    ENABLE(false),
    /** The KEK's destruction was scheduled. */
    SCHEDULE_DESTRUCTION(false),
    /** A scheduled destruction was cancelled. */
    CANCEL_DESTRUCTION(false),
    /** The KEK's wrapped material was destroyed (crypto-shredding). */
    DESTROY(false);

    private final boolean kmsCall;

    Type(boolean kmsCall) {
      this.kmsCall = kmsCall;
    }

    /** Whether this is a KMS call rather than a lifecycle step. */
    public boolean isKmsCall() {
      return kmsCall;
    }
  }

  /** How a call or step ended. */
  public enum Outcome {
    /** It did what was asked. */
    SUCCESS,
    /** The KMS refused: CMK disabled, deleted, or access denied. */
    DENIED,
    /** The KMS could not be reached or failed transiently. */
    UNAVAILABLE,
    /** The KMS could not authenticate the ciphertext, or the imported material was invalid. */
    INVALID_CIPHERTEXT,
    /** The KEK's state does not allow the step (a {@code KekStateException}). */
    REFUSED,
    /** Any other failure: the store, the configuration, a bug. */
    FAILED
  }
}
