package dev.keymanager.core.internal;

import dev.keymanager.DataKeyService;
import dev.keymanager.KekRef;

/**
 * What a key manager knows, without a store read, about which version of a KEK is primary. Lets the
 * envelope's DEK reuse ({@code dev.keymanager.core.envelope}) stop using a DEK of an old version as
 * soon as this key manager has seen a rotation, exactly when {@code generateDek} would move to the
 * new version.
 */
public interface PrimaryVersions {
  /**
   * False once this key manager knows another version of {@code ref}'s KEK is primary, or no longer
   * knows which one is (then {@code generateDek} reads it again); true otherwise. A cache lookup.
   */
  boolean mayStillBePrimary(KekRef ref);

  /** The view of {@code keys}: its own if it is one of ours, else one that always says true. */
  static PrimaryVersions of(DataKeyService keys) {
    return keys instanceof PrimaryVersions p ? p : ref -> true;
  }
}
