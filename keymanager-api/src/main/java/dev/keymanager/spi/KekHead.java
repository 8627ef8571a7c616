package dev.keymanager.spi;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import java.net.URI;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * The head record of one KEK: the one record that orders every KEK-wide change. It holds the KEK's
 * state, its primary version, its minimum decryption version, when a scheduled destruction falls
 * due, and the CMK that wraps new versions; the version records ({@link
 * dev.keymanager.KeyEncryptionKey}) hold the wrapped material and the CMK that wraps each.
 *
 * <p>Every KEK-wide change (a rotation, the import of a next version, a disable or enable, a new
 * minimum decryption version, a scheduled or cancelled destruction, a destruction, a change of CMK)
 * is decided by one {@link KekStore#compareAndSetHead} on this record. A rotation writes its
 * version record first and then moves {@link #primaryVersion()} to it; a version record above the
 * primary version is one whose rotation lost or never finished, and is never used.
 *
 * <p>Immutable and thread-safe; equality covers every field. Holds no key material.
 */
public final class KekHead {
  private final String id;
  private final KekState state;
  private final int primaryVersion;
  private final int minimumDecryptionVersion;
  private final URI cmkUri;
  private final Instant destroyAt; // null unless PENDING_DESTRUCTION
  private final Instant updatedAt;
  private final long revision;

  private KekHead(Builder b) {
    this.id = KekRef.checkId(requireNonNull(b.id, "id"));
    this.state = requireNonNull(b.state, "state");
    this.primaryVersion = b.primaryVersion;
    this.minimumDecryptionVersion = b.minimumDecryptionVersion;
    this.cmkUri = requireNonNull(b.cmkUri, "cmkUri");
    this.destroyAt = b.destroyAt;
    this.updatedAt = requireNonNull(b.updatedAt, "updatedAt");
    this.revision = b.revision;
    if (state == KekState.RETIRED) {
      throw new IllegalArgumentException(
          "KEK " + id + ": RETIRED is a state of older versions, never of a KEK's head");
    }
    if (primaryVersion < 1) {
      throw new IllegalArgumentException(
          "KEK " + id + ": primary version must be >= 1: " + primaryVersion);
    }
    if (minimumDecryptionVersion < 1 || minimumDecryptionVersion > primaryVersion) {
      throw new IllegalArgumentException(
          "KEK "
              + id
              + ": minimum decryption version must be 1 to the primary version "
              + primaryVersion
              + ": "
              + minimumDecryptionVersion);
    }
    if ((state == KekState.PENDING_DESTRUCTION) != (destroyAt != null)) {
      throw new IllegalArgumentException(
          "KEK " + id + ": destroyAt must be set exactly when the state is PENDING_DESTRUCTION");
    }
    if (revision < 1) {
      throw new IllegalArgumentException("revision must be >= 1: " + revision);
    }
  }

  /**
   * A builder for a new head; state defaults to {@link KekState#ENABLED}, the primary and minimum
   * decryption versions to 1, the revision to 1.
   */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this head's fields, to derive the next revision from. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.id = id;
    b.state = state;
    b.primaryVersion = primaryVersion;
    b.minimumDecryptionVersion = minimumDecryptionVersion;
    b.cmkUri = cmkUri;
    b.destroyAt = destroyAt;
    b.updatedAt = updatedAt;
    b.revision = revision;
    return b;
  }

  /** The KEK id. */
  public String id() {
    return id;
  }

  /**
   * The KEK's state: {@link KekState#ENABLED}, {@link KekState#DISABLED}, {@link
   * KekState#PENDING_DESTRUCTION} or {@link KekState#DESTROYED}; never {@link KekState#RETIRED}.
   */
  public KekState state() {
    return state;
  }

  /** The version new DEKs are wrapped under. */
  public int primaryVersion() {
    return primaryVersion;
  }

  /** The primary version's reference. */
  public KekRef primary() {
    return new KekRef(id, primaryVersion);
  }

  /** The lowest version whose DEKs may still unwrap; 1 to {@link #primaryVersion()}. */
  public int minimumDecryptionVersion() {
    return minimumDecryptionVersion;
  }

  /** The URI of the CMK that wraps new versions (and, once a change of CMK finished, every one). */
  public URI cmkUri() {
    return cmkUri;
  }

  /**
   * When a pending destruction falls due; present exactly in {@link KekState#PENDING_DESTRUCTION}.
   */
  public Optional<Instant> destroyAt() {
    return Optional.ofNullable(destroyAt);
  }

  /** When this head last changed. */
  public Instant updatedAt() {
    return updatedAt;
  }

  /** The head's revision for compare-and-set, from 1. */
  public long revision() {
    return revision;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof KekHead h
        && id.equals(h.id)
        && state == h.state
        && primaryVersion == h.primaryVersion
        && minimumDecryptionVersion == h.minimumDecryptionVersion
        && cmkUri.equals(h.cmkUri)
        && Objects.equals(destroyAt, h.destroyAt)
        && updatedAt.equals(h.updatedAt)
        && revision == h.revision;
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, state, primaryVersion, revision);
  }

  @Override
  public String toString() {
    return "KekHead["
        + id
        + ", "
        + state
        + ", primary=v"
        + primaryVersion
        + ", minimum=v"
        + minimumDecryptionVersion
        + ", cmk="
        + cmkUri
        + (destroyAt == null ? "" : ", destroyAt=" + destroyAt)
        + ", revision="
        + revision
        + "]";
  }

  /** Builds a {@link KekHead}; not thread-safe. */
  public static final class Builder {
    private String id;
    private KekState state = KekState.ENABLED;
    private int primaryVersion = 1;
    private int minimumDecryptionVersion = 1;
    private URI cmkUri;
    private Instant destroyAt;
    private Instant updatedAt;
    private long revision = 1;

    private Builder() {}

    /** The KEK id; required. */
    public Builder id(String id) {
      this.id = KekRef.checkId(id);
      return this;
    }

    /** The KEK's state; default {@link KekState#ENABLED}. */
    public Builder state(KekState state) {
      this.state = requireNonNull(state, "state");
      return this;
    }

    /** The primary version; default 1. */
    public Builder primaryVersion(int primaryVersion) {
      this.primaryVersion = primaryVersion;
      return this;
    }

    /** The minimum decryption version; default 1. */
    public Builder minimumDecryptionVersion(int minimumDecryptionVersion) {
      this.minimumDecryptionVersion = minimumDecryptionVersion;
      return this;
    }

    /** The CMK that wraps new versions; required. */
    public Builder cmkUri(URI cmkUri) {
      this.cmkUri = requireNonNull(cmkUri, "cmkUri");
      return this;
    }

    /** When a pending destruction falls due, or {@code null} when none is pending. */
    public Builder destroyAt(Instant destroyAt) {
      this.destroyAt = destroyAt;
      return this;
    }

    /** The time of this change; required. */
    public Builder updatedAt(Instant updatedAt) {
      this.updatedAt = requireNonNull(updatedAt, "updatedAt");
      return this;
    }

    /** The revision; default 1. */
    public Builder revision(long revision) {
      this.revision = revision;
      return this;
    }

    /**
     * The head.
     *
     * @throws IllegalArgumentException if a required field is missing or the fields contradict each
     *     other (a minimum above the primary version, a destroy time outside {@link
     *     KekState#PENDING_DESTRUCTION}, the state {@link KekState#RETIRED})
     */
    public KekHead build() {
      if (id == null || cmkUri == null || updatedAt == null) {
        throw new IllegalArgumentException("id, cmkUri and updatedAt are required");
      }
      return new KekHead(this);
    }
  }
}
