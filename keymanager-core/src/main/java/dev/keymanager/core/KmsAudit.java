package dev.keymanager.core;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerException;
import dev.keymanager.KmsUnavailableException;
import java.net.URI;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one KMS call: counts it, classifies its outcome, and writes one audit line with the KEK, the
 * CMK URI, the outcome and the duration (never key bytes).
 *
 * <p>A provider that throws something other than a {@link KeyManagerException} has a bug; the call
 * fails closed as {@link KmsUnavailableException} with the original as cause.
 */
final class KmsAudit {
  private static final Logger log = LoggerFactory.getLogger("dev.keymanager.audit");

  private final Stats stats;

  KmsAudit(Stats stats) {
    this.stats = stats;
  }

  <T> T call(String operation, KekRef kek, URI cmk, Supplier<T> call) {
    stats.kmsCalls.increment();
    long start = System.nanoTime();
    try {
      T result = call.get();
      log.info("kms {} kek={} cmk={} outcome=ok durationMs={}", operation, kek, cmk, ms(start));
      return result;
    } catch (KeyAccessDeniedException e) {
      stats.denials.increment();
      throw failed(operation, kek, cmk, start, "denied", e);
    } catch (KmsUnavailableException e) {
      stats.transientFailures.increment();
      throw failed(operation, kek, cmk, start, "unavailable", e);
    } catch (InvalidCiphertextException e) {
      failed(operation, kek, cmk, start, "invalid-ciphertext", e);
      throw new InvalidCiphertextException(
          "The KMS could not authenticate the wrapped material of KEK "
              + kek
              + " under CMK "
              + cmk
              + ": the stored record is corrupt or was made under another CMK or KEK id",
          e);
    } catch (KeyManagerException e) {
      throw failed(operation, kek, cmk, start, "error", e);
    } catch (RuntimeException e) {
      stats.transientFailures.increment();
      failed(operation, kek, cmk, start, "provider-bug", e);
      throw new KmsUnavailableException(
          "KMS provider failed unexpectedly on " + operation + " for CMK " + cmk, e);
    }
  }

  /** Writes the audit line of a failed call and returns the exception for the caller to throw. */
  private static <E extends RuntimeException> E failed(
      String operation, KekRef kek, URI cmk, long start, String outcome, E e) {
    log.warn(
        "kms {} kek={} cmk={} outcome={} durationMs={} cause={}",
        operation,
        kek,
        cmk,
        outcome,
        ms(start),
        e.toString());
    return e;
  }

  private static long ms(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}
