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
      log.warn(
          "kms {} kek={} cmk={} outcome=denied durationMs={} cause={}",
          operation,
          kek,
          cmk,
          ms(start),
          e.getMessage());
      throw e;
    } catch (KmsUnavailableException e) {
      stats.transientFailures.increment();
      log.warn(
          "kms {} kek={} cmk={} outcome=unavailable durationMs={} cause={}",
          operation,
          kek,
          cmk,
          ms(start),
          e.getMessage());
      throw e;
    } catch (InvalidCiphertextException e) {
      log.warn(
          "kms {} kek={} cmk={} outcome=invalid-ciphertext durationMs={}",
          operation,
          kek,
          cmk,
          ms(start));
      throw new InvalidCiphertextException(
          "The KMS could not authenticate the wrapped material of KEK "
              + kek
              + " under CMK "
              + cmk
              + ": the stored record is corrupt or was made under another CMK or KEK id",
          e);
    } catch (KeyManagerException e) {
      log.warn(
          "kms {} kek={} cmk={} outcome=error durationMs={}", operation, kek, cmk, ms(start), e);
      throw e;
    } catch (RuntimeException e) {
      stats.transientFailures.increment();
      log.error(
          "kms {} kek={} cmk={} outcome=provider-bug durationMs={}",
          operation,
          kek,
          cmk,
          ms(start),
          e);
      throw new KmsUnavailableException(
          "KMS provider failed unexpectedly on " + operation + " for CMK " + cmk, e);
    }
  }

  private static long ms(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}
