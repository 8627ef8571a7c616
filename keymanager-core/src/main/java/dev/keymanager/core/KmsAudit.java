package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import dev.keymanager.AuditCorrelation;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.AuditListener;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The one audit mechanism of a key manager. It runs each KMS call ({@link #call}) and each KEK
 * lifecycle step ({@link #step}): counts it, classifies its outcome, writes one line to the SLF4J
 * logger {@code dev.keymanager.audit} (INFO on success, WARN on failure) and hands one {@link
 * AuditEvent} to every registered {@link AuditListener}. Lines and events carry ids, versions, CMK
 * URIs, outcomes, durations and the caller's {@link AuditCorrelation} id, never key bytes.
 *
 * <p>While a call or step runs on a thread with a correlation id, the id is also in the SLF4J
 * {@link MDC} under {@link AuditCorrelation#MDC_KEY}, so the lines the KMS SDK, the store or the
 * caller's own code log meanwhile carry it too.
 *
 * <p>A provider that throws something other than a {@link KeyManagerException} has a bug; the call
 * fails closed as {@link KmsUnavailableException} with the original as cause.
 */
final class KmsAudit {
  private static final Logger log = LoggerFactory.getLogger("dev.keymanager.audit");
  private static final Logger problems = LoggerFactory.getLogger(KmsAudit.class);

  /** The SLF4J MDC key holding the caller's correlation id during a KMS call or lifecycle step. */
  static final String MDC_KEY = AuditCorrelation.MDC_KEY;

  private final Stats stats;
  private final List<AuditListener> listeners; // copy-on-write: read per event, added to rarely
  private final InstantSource clock;

  KmsAudit(Stats stats) {
    this(stats, List.of(), InstantSource.system());
  }

  KmsAudit(Stats stats, List<AuditListener> listeners, InstantSource clock) {
    this.stats = stats;
    this.listeners = new CopyOnWriteArrayList<>(listeners);
    this.clock = clock;
  }

  /** Adds a listener for the events that end from now on, after those already registered. */
  void addListener(AuditListener listener) {
    listeners.add(requireNonNull(listener, "listener"));
  }

  /**
   * Puts this thread's correlation id, if any, in the MDC until the returned scope closes, which
   * restores the value that was there.
   */
  private static MdcScope correlate() {
    Optional<String> id = AuditCorrelation.current();
    if (id.isEmpty()) {
      return MdcScope.NONE;
    }
    String previous = MDC.get(MDC_KEY);
    MDC.put(MDC_KEY, id.get());
    return () -> {
      if (previous == null) {
        MDC.remove(MDC_KEY);
      } else {
        MDC.put(MDC_KEY, previous);
      }
    };
  }

  /** An MDC entry to undo; closing it throws nothing. */
  private interface MdcScope extends AutoCloseable {
    MdcScope NONE = () -> {};

    @Override
    void close();
  }

  /**
   * Runs one KMS call ({@code operation} is "unwrap" or "wrap") and audits it; the correlation id
   * is in the MDC throughout, audit line and listeners included.
   */
  <T> T call(String operation, KekRef kek, URI cmk, Supplier<T> call) {
    try (MdcScope mdc = correlate()) {
      return audited(operation, kek, cmk, call);
    }
  }

  private <T> T audited(String operation, KekRef kek, URI cmk, Supplier<T> call) {
    AuditEvent.Type type =
        "wrap".equals(operation) ? AuditEvent.Type.KMS_WRAP : AuditEvent.Type.KMS_UNWRAP;
    stats.kmsCalls.increment();
    Instant time = clock.instant();
    long start = System.nanoTime();
    try {
      T result = call.get();
      String correlation = correlation();
      log.info(
          "kms {} kek={} cmk={} outcome=ok durationMs={} correlation={}",
          operation,
          kek,
          cmk,
          ms(start),
          correlation);
      publish(type, time, kek, cmk, AuditEvent.Outcome.SUCCESS, start, "");
      return result;
    } catch (KeyAccessDeniedException e) {
      stats.denials.increment();
      throw failed(type, time, operation, kek, cmk, start, "denied", e);
    } catch (KmsUnavailableException e) {
      stats.transientFailures.increment();
      if (e.isThrottled()) {
        stats.throttledCalls.increment();
      }
      throw failed(
          type, time, operation, kek, cmk, start, e.isThrottled() ? "throttled" : "unavailable", e);
    } catch (InvalidCiphertextException e) {
      failed(type, time, operation, kek, cmk, start, "invalid-ciphertext", e);
      throw new InvalidCiphertextException(
          "The KMS could not authenticate the wrapped material of KEK "
              + kek
              + " under CMK "
              + cmk
              + ": the stored record is corrupt or was made under another CMK or KEK id",
          e);
    } catch (KeyManagerException e) {
      throw failed(type, time, operation, kek, cmk, start, "error", e);
    } catch (RuntimeException e) {
      stats.transientFailures.increment();
      failed(type, time, operation, kek, cmk, start, "provider-bug", e);
      throw new KmsUnavailableException(
          "KMS provider failed unexpectedly on " + operation + " for CMK " + cmk, e);
    }
  }

  /** What a lifecycle step tells its audit event as it learns it. */
  static final class Note {
    private int version;
    private URI cmk;
    private String detail = "";

    /** The KEK version concerned; 0 (the default) for every version. */
    Note version(int version) {
      this.version = version;
      return this;
    }

    Note cmk(URI cmk) {
      this.cmk = cmk;
      return this;
    }

    /** A short text without secrets: the state change, the versions touched, counts. */
    Note detail(String detail) {
      this.detail = detail;
      return this;
    }
  }

  /** A lifecycle step's body. */
  @FunctionalInterface
  interface Step<T> {
    T run(Note note);
  }

  /**
   * Runs one lifecycle step on {@code kekId} and audits it, whether it succeeds or fails; the
   * correlation id is in the MDC throughout, as for {@link #call}.
   */
  <T> T step(AuditEvent.Type type, String kekId, Step<T> body) {
    try (MdcScope mdc = correlate()) {
      return audited(type, kekId, body);
    }
  }

  private <T> T audited(AuditEvent.Type type, String kekId, Step<T> body) {
    Instant time = clock.instant();
    long start = System.nanoTime();
    Note note = new Note();
    RuntimeException failure = null;
    try {
      return body.run(note);
    } catch (RuntimeException e) {
      failure = e;
      throw e;
    } finally {
      String detail =
          failure == null
              ? note.detail
              : (note.detail.isEmpty() ? "" : note.detail + "; ") + failure;
      record(type, time, start, kekId, note.version, note.cmk, failure, detail);
    }
  }

  /**
   * Writes the audit line and event of one lifecycle step that started at {@code time} ({@link
   * System#nanoTime()} {@code start}) and ended now, failed if {@code failure} is not null.
   */
  void record(
      AuditEvent.Type type,
      Instant time,
      long start,
      String kekId,
      int version,
      URI cmk,
      RuntimeException failure,
      String detail) {
    AuditEvent.Outcome outcome = failure == null ? AuditEvent.Outcome.SUCCESS : outcomeOf(failure);
    String line = "kek {} kek={} version={} cmk={} outcome={} durationMs={} correlation={} {}";
    Object[] args = {
      name(type),
      kekId,
      version,
      cmk == null ? "-" : cmk,
      outcome.name().toLowerCase(java.util.Locale.ROOT),
      ms(start),
      correlation(),
      detail
    };
    if (failure == null) {
      log.info(line, args);
    } else {
      log.warn(line, args);
    }
    emit(
        new AuditEvent(
            time,
            type,
            kekId,
            version,
            Optional.ofNullable(cmk),
            outcome,
            elapsed(start),
            AuditCorrelation.current(),
            detail));
  }

  private static AuditEvent.Outcome outcomeOf(RuntimeException e) {
    if (e instanceof KekStateException) {
      return AuditEvent.Outcome.REFUSED;
    } else if (e instanceof KeyAccessDeniedException) {
      return AuditEvent.Outcome.DENIED;
    } else if (e instanceof KmsUnavailableException) {
      return AuditEvent.Outcome.UNAVAILABLE;
    } else if (e instanceof InvalidCiphertextException) {
      return AuditEvent.Outcome.INVALID_CIPHERTEXT;
    }
    return AuditEvent.Outcome.FAILED;
  }

  /** Writes the audit line of a failed call and returns the exception for the caller to throw. */
  private <E extends RuntimeException> E failed(
      AuditEvent.Type type,
      Instant time,
      String operation,
      KekRef kek,
      URI cmk,
      long start,
      String outcome,
      E e) {
    log.warn(
        "kms {} kek={} cmk={} outcome={} durationMs={} correlation={} cause={}",
        operation,
        kek,
        cmk,
        outcome,
        ms(start),
        correlation(),
        e.toString());
    publish(type, time, kek, cmk, outcomeOf(e), start, e.toString());
    return e;
  }

  private void publish(
      AuditEvent.Type type,
      Instant time,
      KekRef kek,
      URI cmk,
      AuditEvent.Outcome outcome,
      long start,
      String detail) {
    if (!listeners.isEmpty()) {
      emit(
          new AuditEvent(
              time,
              type,
              kek.id(),
              kek.version(),
              Optional.of(cmk),
              outcome,
              elapsed(start),
              AuditCorrelation.current(),
              detail));
    }
  }

  private void emit(AuditEvent event) {
    for (AuditListener listener : listeners) {
      try {
        listener.onEvent(event);
      } catch (RuntimeException e) {
        problems.warn(
            "Audit listener {} failed on a {} event",
            listener.getClass().getName(),
            event.type(),
            e);
      }
    }
  }

  private static String name(AuditEvent.Type type) {
    return type.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
  }

  private static String correlation() {
    return AuditCorrelation.current().orElse("-");
  }

  private static Duration elapsed(long startNanos) {
    return Duration.ofNanos(System.nanoTime() - startNanos);
  }

  private static long ms(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}
