package dev.keymanager;

/**
 * Receives the results of {@link DataKeyService#rewrapDeks}: the caller stores each new wrapped key
 * in place of the old one, and may record progress.
 */
@FunctionalInterface
public interface RewrapSink {
  /**
   * The request at {@code position} (counted from 0 over the whole iteration) was rewrapped: store
   * {@code after} in place of {@code before}. When this returns, the request counts as done; if it
   * throws, the bulk rewrap stops and reports this position as the one to resume at.
   */
  void rewrapped(long position, WrappedKey before, WrappedKey after);

  /**
   * Progress so far: called every {@link DataKeyService#REWRAP_PROGRESS_INTERVAL} requests and once
   * at the end, whether the run completed or stopped at a failure (then with {@link
   * RewrapProgress#failure()} set and the position to resume at). Persisting {@link
   * RewrapProgress#position()} here is enough to resume after a crash. If this throws at the end of
   * a run that had already failed, the first failure is kept and this one added as suppressed. The
   * default does nothing.
   */
  default void progress(RewrapProgress progress) {}
}
