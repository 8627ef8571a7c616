package dev.keymanager;

import static java.util.Objects.requireNonNull;

import java.util.Optional;

/**
 * An operation is not allowed in the KEK's current state: the KEK is disabled, scheduled for
 * destruction or destroyed, does not exist, or the version asked for is below the minimum
 * decryption version. A lifecycle transition that is not allowed (enabling a destroyed KEK) raises
 * it too. When the KEK id or version named does not exist at all, the subtype {@link
 * KekNotFoundException} is raised.
 *
 * <p>The message names the KEK id, the version where one applies, and the current state.
 */
public sealed class KekStateException extends KeyManagerException permits KekNotFoundException {
  private static final long serialVersionUID = 1L;

  private final String kekId;
  private final KekState state; // null when the KEK does not exist

  /**
   * A state failure for {@code kekId}.
   *
   * @param state the KEK's current state ({@code null} is accepted for compatibility; raise {@link
   *     KekNotFoundException} when no such KEK exists)
   * @param message says what was attempted; the id and state are in it already
   */
  public KekStateException(String kekId, KekState state, String message) {
    this(kekId, state, message, null);
  }

  /**
   * A state failure for {@code kekId} with a cause.
   *
   * @param state the KEK's current state, or {@code null} when no such KEK exists
   * @param message says what was attempted; the id and state are in it already
   * @param cause the failure behind this one, such as the same failure seen by another thread
   */
  public KekStateException(String kekId, KekState state, String message, Throwable cause) {
    super(message, cause);
    this.kekId = requireNonNull(kekId, "kekId");
    this.state = state;
  }

  /** The id of the KEK the operation was for. */
  public String kekId() {
    return kekId;
  }

  /**
   * The KEK's state when the operation was refused; empty when the KEK does not exist (then this is
   * a {@link KekNotFoundException}).
   */
  public Optional<KekState> state() {
    return Optional.ofNullable(state);
  }

  /** Always {@code false}: someone must change the KEK's state first. */
  @Override
  public boolean isRetryable() {
    return false;
  }
}
