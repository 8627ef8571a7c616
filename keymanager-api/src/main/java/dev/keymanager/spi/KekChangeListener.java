package dev.keymanager.spi;

import dev.keymanager.KekRef;

/**
 * Receives the notices of a {@link KekStore}'s change feed ({@link KekStore#subscribe}): which
 * records other writers (and this process) changed, and when notices may have been lost.
 *
 * <p>The store calls one method at a time, from a thread of its own, after the change is committed.
 * A notice says only <em>that</em> a record changed, never how: the receiver reads the store again
 * when it needs the new record. A change is announced at least once (a record may be announced more
 * often than it changed); a change may be announced only as part of {@link
 * #changesMayHaveBeenMissed()}. Methods should return quickly; an exception they throw is caught
 * and ignored by the store, and the feed goes on.
 */
public interface KekChangeListener {
  /** The head record of {@code kekId} was created or changed (a state change, a rotation...). */
  void headChanged(String kekId);

  /** The version record {@code ref} was created or changed (its material erased, rewrapped...). */
  void versionChanged(KekRef ref);

  /**
   * Notices may have been lost (the feed started, or reconnected after an outage): treat every KEK
   * as changed. Every change committed after this call is announced again by the other methods.
   */
  void changesMayHaveBeenMissed();
}
