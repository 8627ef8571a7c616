package dev.keymanager;

import java.util.Optional;

/**
 * How far a {@link KeyManager#rewrapDeks bulk rewrap} got, and the token to resume it with.
 *
 * <p>The resume token is {@link #position()}: the number of requests, from the start of the
 * iteration, that are done (rewrapped and handed to the {@link RewrapSink}, or already under their
 * KEK's primary version). To resume, iterate the same requests in the same order from the start and
 * pass this progress (or {@link #resumeAt(long)} of a stored position): the first {@code position}
 * requests are skipped without being looked at. Rewrapping is idempotent, so resuming from an
 * earlier position, or from 0, is always safe, only slower.
 *
 * @param position the requests done, from 0; where a resumed run starts
 * @param rewrapped requests rewrapped to a newer version, over this and earlier runs
 * @param unchanged requests already under their KEK's primary version, over this and earlier runs
 * @param failure why the run stopped early, at the request at {@code position}; empty when it ran
 *     to the end of the iterator. Not part of the token: {@code rewrapDeks} ignores it.
 */
public record RewrapProgress(
    long position, long rewrapped, long unchanged, Optional<RuntimeException> failure) {
  /** The progress of a run that has not started. */
  public static final RewrapProgress START = resumeAt(0);

  /**
   * Checks the counts.
   *
   * @throws IllegalArgumentException if a count is negative
   */
  public RewrapProgress {
    if (position < 0 || rewrapped < 0 || unchanged < 0) {
      throw new IllegalArgumentException(
          "negative rewrap progress: " + position + "/" + rewrapped + "/" + unchanged);
    }
    java.util.Objects.requireNonNull(failure, "failure");
  }

  /** A token to resume at {@code position}, as stored from an earlier run; counts start at 0. */
  public static RewrapProgress resumeAt(long position) {
    return new RewrapProgress(position, 0, 0, Optional.empty());
  }

  /** Whether the run reached the end of its requests. */
  public boolean isComplete() {
    return failure.isEmpty();
  }
}
