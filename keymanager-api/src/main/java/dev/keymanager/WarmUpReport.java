package dev.keymanager;

import static java.util.Objects.requireNonNull;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@link DataKeyService#warmUp} did: the KEK versions now in the cache, and per KEK id the
 * failure that kept it (or one of its versions) out.
 *
 * @param loaded the KEK versions cached, in the order asked
 * @param failures by KEK id, sorted: why that KEK is not (entirely) warm; the exception is the one
 *     the blocking call would have thrown
 */
public record WarmUpReport(List<KekRef> loaded, Map<String, KeyManagerException> failures) {
  public WarmUpReport {
    loaded = List.copyOf(requireNonNull(loaded, "loaded"));
    failures =
        java.util.Collections.unmodifiableMap(new TreeMap<>(requireNonNull(failures, "failures")));
  }

  /** Whether every KEK asked for was warmed. */
  public boolean isComplete() {
    return failures.isEmpty();
  }
}
