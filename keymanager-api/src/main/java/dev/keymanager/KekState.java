package dev.keymanager;

/**
 * The lifecycle state of one KEK version.
 *
 * <table>
 *   <caption>What each state allows</caption>
 *   <tr><th>state</th><th>wrap new DEKs</th><th>unwrap DEKs</th><th>wrapped material kept</th></tr>
 *   <tr><td>{@link #ENABLED}</td><td>primary version only</td><td>yes</td><td>yes</td></tr>
 *   <tr><td>{@link #DISABLED}</td><td>no</td><td>no</td><td>yes</td></tr>
 *   <tr><td>{@link #PENDING_DESTRUCTION}</td><td>no</td><td>no</td><td>yes, until the window
 *       ends</td></tr>
 *   <tr><td>{@link #DESTROYED}</td><td>no</td><td>no</td><td>no: crypto-shredded</td></tr>
 * </table>
 */
public enum KekState {
  /** In service. */
  ENABLED,
  /** Kept but unusable until enabled again. */
  DISABLED,
  /** Unusable and due to be destroyed when its pending window ends, unless cancelled. */
  PENDING_DESTRUCTION,
  /** The wrapped material is gone; every DEK under this KEK is unrecoverable. Final. */
  DESTROYED;

  /** Whether DEKs under a KEK in this state may be wrapped or unwrapped. */
  public boolean isUsable() {
    return this == ENABLED;
  }
}
