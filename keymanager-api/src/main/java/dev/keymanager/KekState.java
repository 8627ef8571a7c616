package dev.keymanager;

/**
 * The lifecycle state of one KEK version.
 *
 * <table>
 *   <caption>What each state allows</caption>
 *   <tr><th>state</th><th>wrap new DEKs</th><th>unwrap DEKs</th><th>wrapped material kept</th></tr>
 *   <tr><td>{@link #ENABLED}</td><td>primary version only</td><td>yes</td><td>yes</td></tr>
 *   <tr><td>{@link #DISABLED}</td><td>no</td><td>no</td><td>yes</td></tr>
 *   <tr><td>{@link #RETIRED}</td><td>no</td><td>no</td><td>yes</td></tr>
 *   <tr><td>{@link #PENDING_DESTRUCTION}</td><td>no</td><td>no</td><td>yes, until the window
 *       ends</td></tr>
 *   <tr><td>{@link #DESTROYED}</td><td>no</td><td>no</td><td>no: crypto-shredded</td></tr>
 * </table>
 *
 * <p>The state of a KEK as a whole is the state of its primary (newest) version; {@link
 * KeyManager}'s lifecycle operations apply to every version and list the transitions they allow.
 * {@link #RETIRED} is the one state that only older versions take: it is how the minimum decryption
 * version is stored ({@link KekAdmin#setMinimumDecryptionVersion}).
 */
public enum KekState {
  /** In service. */
  ENABLED,
  /** Kept but unusable until enabled again. */
  DISABLED,
  /** Unusable and due to be destroyed when its pending window ends, unless cancelled. */
  PENDING_DESTRUCTION,
  /** The wrapped material is gone; every DEK under this KEK is unrecoverable. Final. */
  DESTROYED,
  /**
   * An older version below the KEK's minimum decryption version: kept, but no DEK under it unwraps
   * until the minimum is lowered again. Never the primary version. (Declared last so that the
   * ordinals of the other states stay as they were.)
   */
  RETIRED;

  /** Whether DEKs under a KEK in this state may be wrapped or unwrapped. */
  public boolean isUsable() {
    return this == ENABLED;
  }
}
