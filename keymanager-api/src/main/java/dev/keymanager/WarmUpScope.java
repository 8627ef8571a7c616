package dev.keymanager;

/** Which versions of each KEK {@link DataKeyService#warmUp} loads. */
public enum WarmUpScope {
  /** The primary (newest) version only: what new DEKs are wrapped under. */
  PRIMARY_VERSIONS,
  /** Every version whose DEKs may still be unwrapped (not retired, disabled or destroyed). */
  ENABLED_VERSIONS
}
