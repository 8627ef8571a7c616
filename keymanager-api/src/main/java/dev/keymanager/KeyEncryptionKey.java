package dev.keymanager;

import static java.util.Objects.requireNonNull;

import java.net.URI;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Optional;

/**
 * The stored record of one KEK version: its id and version, state, the URI of the CMK that wraps
 * it, the wrapped key material, timestamps, and a revision number for compare-and-set.
 *
 * <p>It never holds plaintext: the wrapped material is ciphertext that only the CMK's KMS can open.
 * A {@link KekState#DESTROYED destroyed} record has no material left. {@link #revision()} starts at
 * 1 and grows by one on every change a {@link dev.keymanager.spi.KekStore} accepts.
 *
 * <p>Immutable and thread-safe; byte arrays are copied in and out. Equality covers every field.
 */
public final class KeyEncryptionKey {
  private final KekRef ref;
  private final KekState state;
  private final URI cmkUri;
  private final byte[] wrappedMaterial;
  private final Instant createdAt;
  private final Instant updatedAt;
  private final Instant destroyAt; // null unless PENDING_DESTRUCTION
  private final long revision;

  private KeyEncryptionKey(Builder b) {
    this.ref = new KekRef(requireNonNull(b.id, "id"), b.version);
    this.state = requireNonNull(b.state, "state");
    this.cmkUri = requireNonNull(b.cmkUri, "cmkUri");
    this.wrappedMaterial = requireNonNull(b.wrappedMaterial, "wrappedMaterial").clone();
    this.createdAt = requireNonNull(b.createdAt, "createdAt");
    this.updatedAt = b.updatedAt == null ? b.createdAt : b.updatedAt;
    this.destroyAt = b.destroyAt;
    this.revision = b.revision;
    if (revision < 1) {
      throw new IllegalArgumentException("revision must be >= 1: " + revision);
    }
    if (updatedAt.isBefore(createdAt)) {
      throw new IllegalArgumentException("updatedAt before createdAt for KEK " + ref);
    }
    if ((state == KekState.DESTROYED) != (wrappedMaterial.length == 0)) {
      throw new IllegalArgumentException(
          "KEK " + ref + ": wrapped material must be empty exactly when the state is DESTROYED");
    }
    if ((state == KekState.PENDING_DESTRUCTION) != (destroyAt != null)) {
      throw new IllegalArgumentException(
          "KEK " + ref + ": destroyAt must be set exactly when the state is PENDING_DESTRUCTION");
    }
  }

  /** A builder for a new record; state defaults to {@link KekState#ENABLED}, revision to 1. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this record's fields, to derive the next revision from. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.id = ref.id();
    b.version = ref.version();
    b.state = state;
    b.cmkUri = cmkUri;
    b.wrappedMaterial = wrappedMaterial;
    b.createdAt = createdAt;
    b.updatedAt = updatedAt;
    b.destroyAt = destroyAt;
    b.revision = revision;
    return b;
  }

  /** The KEK id and version. */
  public KekRef ref() {
    return ref;
  }

  /** The KEK id. */
  public String id() {
    return ref.id();
  }

  /** The KEK version, from 1. */
  public int version() {
    return ref.version();
  }

  /** The lifecycle state. */
  public KekState state() {
    return state;
  }

  /** The URI of the customer master key that wraps this KEK. */
  public URI cmkUri() {
    return cmkUri;
  }

  /** A copy of the KMS ciphertext of the KEK; empty once destroyed. */
  public byte[] wrappedMaterial() {
    return wrappedMaterial.clone();
  }

  /** When this version was created. */
  public Instant createdAt() {
    return createdAt;
  }

  /** When this record last changed. */
  public Instant updatedAt() {
    return updatedAt;
  }

  /**
   * When a pending destruction falls due; present exactly in {@link KekState#PENDING_DESTRUCTION}.
   */
  public Optional<Instant> destroyAt() {
    return Optional.ofNullable(destroyAt);
  }

  /** The record revision for compare-and-set, from 1. */
  public long revision() {
    return revision;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof KeyEncryptionKey k
        && ref.equals(k.ref)
        && state == k.state
        && cmkUri.equals(k.cmkUri)
        && MessageDigest.isEqual(wrappedMaterial, k.wrappedMaterial)
        && createdAt.equals(k.createdAt)
        && updatedAt.equals(k.updatedAt)
        && java.util.Objects.equals(destroyAt, k.destroyAt)
        && revision == k.revision;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(ref, state, cmkUri, revision);
  }

  /** Metadata only: the wrapped material is shown by length. */
  @Override
  public String toString() {
    return "KeyEncryptionKey["
        + ref
        + ", "
        + state
        + ", cmk="
        + cmkUri
        + ", wrapped="
        + wrappedMaterial.length
        + " bytes, revision="
        + revision
        + (destroyAt == null ? "" : ", destroyAt=" + destroyAt)
        + "]";
  }

  /** Builds a {@link KeyEncryptionKey}; not thread-safe. */
  public static final class Builder {
    private String id;
    private int version = 1;
    private KekState state = KekState.ENABLED;
    private URI cmkUri;
    private byte[] wrappedMaterial;
    private Instant createdAt;
    private Instant updatedAt;
    private Instant destroyAt;
    private long revision = 1;

    private Builder() {}

    /** The KEK id; required. */
    public Builder id(String id) {
      this.id = KekRef.checkId(id);
      return this;
    }

    /** The KEK version; default 1. */
    public Builder version(int version) {
      this.version = version;
      return this;
    }

    /** The state; default {@link KekState#ENABLED}. */
    public Builder state(KekState state) {
      this.state = requireNonNull(state, "state");
      return this;
    }

    /** The URI of the wrapping CMK; required. */
    public Builder cmkUri(URI cmkUri) {
      this.cmkUri = requireNonNull(cmkUri, "cmkUri");
      return this;
    }

    /** The KMS ciphertext of the KEK (copied); required, empty only when destroyed. */
    public Builder wrappedMaterial(byte[] wrappedMaterial) {
      this.wrappedMaterial = requireNonNull(wrappedMaterial, "wrappedMaterial").clone();
      return this;
    }

    /** The creation time; required. */
    public Builder createdAt(Instant createdAt) {
      this.createdAt = requireNonNull(createdAt, "createdAt");
      return this;
    }

    /** The time of the last change; defaults to the creation time. */
    public Builder updatedAt(Instant updatedAt) {
      this.updatedAt = requireNonNull(updatedAt, "updatedAt");
      return this;
    }

    /** When a pending destruction falls due, or {@code null} when none is pending. */
    public Builder destroyAt(Instant destroyAt) {
      this.destroyAt = destroyAt;
      return this;
    }

    /** The record revision; default 1. */
    public Builder revision(long revision) {
      this.revision = revision;
      return this;
    }

    /**
     * The record.
     *
     * @throws IllegalArgumentException if a required field is missing or the fields contradict each
     *     other (material present on a destroyed record, a destroy time outside {@link
     *     KekState#PENDING_DESTRUCTION})
     */
    public KeyEncryptionKey build() {
      if (id == null || cmkUri == null || wrappedMaterial == null || createdAt == null) {
        throw new IllegalArgumentException(
            "id, cmkUri, wrappedMaterial and createdAt are required");
      }
      return new KeyEncryptionKey(this);
    }
  }
}
