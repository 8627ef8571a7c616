package dev.keymanager.internal;

/**
 * Whether a handle on a DEK (a {@link dev.keymanager.DataKey}, a stream or channel) may still be
 * used: its KEK version may, as a fresh unwrap would decide. Core implements it, one instance per
 * handle; once {@link #check()} has failed it fails the same way on every later call. Not part of
 * the public API.
 */
public interface KekLiveness {
  /** A handle whose KEK is never checked: for DEKs that came from no key manager (tests). */
  KekLiveness NONE = () -> {};

  /**
   * Returns if the KEK version may still be used; throws what a fresh unwrap would otherwise
   * ({@link dev.keymanager.KeyAccessDeniedException}, {@link
   * dev.keymanager.KmsUnavailableException}, {@link dev.keymanager.KekStateException}, or {@link
   * IllegalStateException} once the key manager is closed), now and on every later call.
   */
  void check();
}
