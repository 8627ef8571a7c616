package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import dev.keymanager.DataKeyService;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.RewrapSink;
import dev.keymanager.WrappedKey;
import dev.keymanager.spi.AuditEvent;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rewraps DEKs to their KEK's primary version: unwrap under the version named in the wrapped key,
 * wrap the same DEK bytes under the primary, overwrite the bytes. The data the DEK protects is not
 * touched. The primary is read from the store (not the key manager's cached lookup), so a rotation
 * made by another process is seen at once; a bulk run reads it once per KEK.
 */
final class Rewrapper {
  private static final Logger log = LoggerFactory.getLogger(Rewrapper.class);

  private final KekLifecycle lifecycle;
  private final KekCache cache;
  private final KmsAudit audit;
  private final InstantSource clock;

  Rewrapper(KekLifecycle lifecycle, KekCache cache, KmsAudit audit, InstantSource clock) {
    this.lifecycle = lifecycle;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
  }

  WrappedKey rewrap(WrappedKey wrapped, KeyContext context) {
    requireNonNull(wrapped, "wrappedKey");
    requireNonNull(context, "context");
    KekRef from = wrapped.kek();
    return audit.step(
        AuditEvent.Type.REWRAP_DEK,
        from.id(),
        note -> {
          note.version(from.version());
          KekRef primary = lifecycle.primary(from.id());
          WrappedKey out = rewrapTo(wrapped, context, primary);
          note.detail(out == wrapped ? "already under v" + from.version() : "to " + primary);
          return out;
        });
  }

  /**
   * {@code wrapped} rewrapped under {@code primary}, or {@code wrapped} itself if it is under that
   * version or a newer one. Either way the wrapped key is authenticated first.
   */
  private WrappedKey rewrapTo(WrappedKey wrapped, KeyContext context, KekRef primary) {
    byte[] dek;
    CachedKek old = cache.acquire(wrapped.kek());
    try {
      dek = DekCipher.unwrap(old, wrapped, context);
    } finally {
      old.release();
    }
    try {
      if (wrapped.kek().version() >= primary.version()) {
        return wrapped;
      }
      CachedKek target = cache.acquire(primary);
      try {
        return DekCipher.wrap(target, dek, context);
      } finally {
        target.release();
      }
    } finally {
      Arrays.fill(dek, (byte) 0);
    }
  }

  RewrapProgress rewrapAll(
      Iterator<RewrapRequest> requests, RewrapProgress resumeFrom, RewrapSink sink) {
    requireNonNull(requests, "requests");
    requireNonNull(resumeFrom, "resumeFrom");
    requireNonNull(sink, "sink");
    Instant time = clock.instant();
    long start = System.nanoTime();
    long position = resumeFrom.position();
    long rewrapped = resumeFrom.rewrapped();
    long unchanged = resumeFrom.unchanged();
    Map<String, KekRef> primaries = new HashMap<>();
    Map<String, long[]> perKek = new TreeMap<>(); // id -> {rewrapped, unchanged}
    String failedKek = null;
    RuntimeException failure = null;
    long index = 0;
    try {
      while (requests.hasNext()) {
        RewrapRequest request = requests.next();
        if (index < position) {
          index++; // done in an earlier run
          continue;
        }
        String kekId = request.wrappedKey().kek().id();
        failedKek = kekId;
        long[] counts = perKek.computeIfAbsent(kekId, id -> new long[2]);
        KekRef primary = primaries.computeIfAbsent(kekId, lifecycle::primary);
        WrappedKey out = rewrapTo(request.wrappedKey(), request.context(), primary);
        if (out != request.wrappedKey()) {
          sink.rewrapped(index, request.wrappedKey(), out);
          rewrapped++;
          counts[0]++;
        } else {
          unchanged++;
          counts[1]++;
        }
        failedKek = null;
        position = ++index;
        if (position % DataKeyService.REWRAP_PROGRESS_INTERVAL == 0) {
          sink.progress(new RewrapProgress(position, rewrapped, unchanged, Optional.empty()));
        }
      }
    } catch (RuntimeException e) {
      failure = e;
    }
    RewrapProgress result =
        new RewrapProgress(position, rewrapped, unchanged, Optional.ofNullable(failure));
    // Progress is reported at the end whether the run completed or stopped at a failure, so a
    // caller persisting positions in progress() always sees where to resume.
    try {
      sink.progress(result);
    } catch (RuntimeException e) {
      if (failure == null) {
        failure = e;
        result = new RewrapProgress(position, rewrapped, unchanged, Optional.of(e));
      } else if (e != failure) {
        failure.addSuppressed(e);
      }
    }
    report(time, start, perKek, primaries, failedKek, failure, position);
    return result;
  }

  /** One audit event per KEK the run touched, with its counts; the failure on its KEK's event. */
  private void report(
      Instant time,
      long start,
      Map<String, long[]> perKek,
      Map<String, KekRef> primaries,
      String failedKek,
      RuntimeException failure,
      long position) {
    for (Map.Entry<String, long[]> e : perKek.entrySet()) {
      String id = e.getKey();
      boolean failedHere = failure != null && id.equals(failedKek);
      KekRef primary = primaries.get(id);
      String detail =
          "rewrapped "
              + e.getValue()[0]
              + ", unchanged "
              + e.getValue()[1]
              + (primary == null ? "" : ", to v" + primary.version())
              + (failedHere ? "; stopped at position " + position + ": " + failure : "");
      audit.record(
          AuditEvent.Type.REWRAP_DEKS,
          time,
          start,
          id,
          primary == null ? 0 : primary.version(),
          null,
          failedHere ? failure : null,
          detail);
    }
    if (failure != null && (failedKek == null || !perKek.containsKey(failedKek))) {
      log.warn("Bulk rewrap stopped at position {}: {}", position, failure.toString());
    }
  }
}
