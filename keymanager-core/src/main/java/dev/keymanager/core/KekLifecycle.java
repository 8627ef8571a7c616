package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekDescription;
import dev.keymanager.KekNotFoundException;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.internal.Randoms;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KEK lifecycle steps of {@link dev.keymanager.KeyManager} that make or re-wrap key material:
 * create, import, rotate and change of CMK; the KEK-wide state changes are in {@link
 * KekStateChanges}. The transitions are tabled in {@code KeyManager}'s javadoc.
 *
 * <p>Every KEK-wide change is decided by one compare-and-set on the KEK's head ({@link
 * dev.keymanager.spi.KekHead}). A rotation writes its version record first and then moves the
 * head's primary version to it; if the head changed meanwhile (a disable, another rotation, a new
 * CMK), the move fails, the rotation reads the head again and either moves it past what it finds or
 * fails with the head's state. A version record the head never named is never used, so a rotation
 * paused, failed or killed between its two writes leaves nothing usable behind.
 *
 * <p>New versions go into the cache ({@link KekCache}) at once, so their first use needs no KMS
 * call, and the key manager's primary-version lookup is told of every change.
 */
final class KekLifecycle {
  private static final Logger log = LoggerFactory.getLogger(KekLifecycle.class);

  /** Compare-and-set conflicts on one record before giving up with a retryable store failure. */
  static final int MAX_ATTEMPTS = 1000;

  private final KekStore store;
  private final KmsRegistry kms;
  private final KekCache cache;
  private final KmsAudit audit;
  private final InstantSource clock;
  private final Consumer<String> primaryChanged;

  KekLifecycle(
      KekStore store,
      KmsRegistry kms,
      KekCache cache,
      KmsAudit audit,
      InstantSource clock,
      Consumer<String> primaryChanged) {
    this.store = store;
    this.kms = kms;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
    this.primaryChanged = primaryChanged;
  }

  // ---------------------------------------------------------------- new versions

  KeyEncryptionKey create(String kekId, URI cmkUri) {
    KekRef.checkId(kekId);
    requireNonNull(cmkUri, "cmkUri");
    return audit.step(
        AuditEvent.Type.CREATE,
        kekId,
        note -> {
          note.version(1).cmk(cmkUri);
          KmsWrapper wrapper = wrapper(cmkUri, kekId, "creating");
          requireAbsent(kekId);
          KeyEncryptionKey created =
              newVersion(new KekRef(kekId, 1), cmkUri, wrapper)
                  .orElseThrow(
                      () ->
                          new KekStateException(
                              kekId,
                              KekState.ENABLED,
                              "KEK " + kekId + " was created concurrently by another writer"));
          firstHead(created);
          return created;
        });
  }

  private void requireAbsent(String kekId) {
    Optional<KekView> existing = KekView.read(store, kekId);
    if (existing.isPresent()) {
      KekState state = existing.get().head().state();
      throw new KekStateException(kekId, state, "KEK " + kekId + " exists already (" + state + ")");
    }
  }

  /**
   * Writes the head of a KEK whose version 1 was just created. If another writer created it first
   * (a state change that found version 1 without a head), that head orders what followed.
   */
  private void firstHead(KeyEncryptionKey created) {
    store.createHead(
        KekHead.builder()
            .id(created.id())
            .cmkUri(created.cmkUri())
            .updatedAt(created.createdAt())
            .build());
    primaryChanged.accept(created.id());
  }

  KeyEncryptionKey importKek(KekRef ref, URI cmkUri, byte[] wrappedMaterial) {
    requireNonNull(ref, "ref");
    requireNonNull(cmkUri, "cmkUri");
    byte[] material = requireNonNull(wrappedMaterial, "wrappedMaterial").clone();
    if (material.length == 0) {
      throw new IllegalArgumentException("wrapped material of KEK " + ref + " is empty");
    }
    return audit.step(
        AuditEvent.Type.IMPORT,
        ref.id(),
        note -> {
          note.version(ref.version()).cmk(cmkUri);
          checkImportable(ref, KekView.read(store, ref.id()).orElse(null));
          KmsUnwrapper unwrapper = kms.unwrapper(cmkUri);
          byte[] plaintext =
              audit.call(
                  "unwrap",
                  ref,
                  cmkUri,
                  () -> unwrapper.unwrap(material, DefaultKeyManager.kekContext(ref)));
          if (plaintext.length != DefaultKeyManager.KEK_LENGTH) {
            Arrays.fill(plaintext, (byte) 0);
            throw new InvalidCiphertextException(
                "Imported material for KEK "
                    + ref
                    + " unwraps to "
                    + plaintext.length
                    + " bytes under "
                    + cmkUri
                    + "; a KEK is "
                    + DefaultKeyManager.KEK_LENGTH
                    + " random bytes");
          }
          byte[] owned = plaintext; // overwritten below unless the cache takes it
          try {
            if (ref.version() > 1) {
              migrate(ref.id());
            }
            KeyEncryptionKey record = record(ref, cmkUri, material);
            if (!store.create(record)) {
              throw new KekStateException(
                  ref.id(),
                  KekView.read(store, ref.id()).map(v -> v.head().state()).orElse(null),
                  "KEK " + ref + " exists already");
            }
            cache.put(ref, plaintext);
            owned = null; // the cache owns it now
            if (ref.version() == 1) {
              firstHead(record);
            } else {
              movePrimary(record, "import");
            }
            log.info("Imported KEK {} under {}", ref, cmkUri);
            return record;
          } finally {
            if (owned != null) {
              Arrays.fill(owned, (byte) 0);
            }
          }
        });
  }

  private static void checkImportable(KekRef ref, KekView view) {
    if (view == null) {
      if (ref.version() != 1) {
        throw new KekNotFoundException(
            ref.id(),
            "No KEK with id " + ref.id() + " exists; import it as version 1, not " + ref.version());
      }
      return;
    }
    KekHead head = view.head();
    requireState(head, "import a new version of", KekState.ENABLED);
    int next = Math.max(head.primaryVersion(), view.highestStored()) + 1;
    if (ref.version() != next) {
      throw new KekStateException(
          ref.id(),
          head.state(),
          "KEK "
              + ref.id()
              + " is at version "
              + head.primaryVersion()
              + " ("
              + head.state()
              + "); the next imported version must be "
              + next
              + ", not "
              + ref.version());
    }
  }

  /** Creates the head of a KEK of the layout before heads, so that the head orders what follows. */
  private void migrate(String kekId) {
    for (int attempt = 1; ; attempt++) {
      KekView view = KekView.existing(store, kekId);
      if (view.stored() || view.write(store, view.head().toBuilder()).isPresent()) {
        return;
      }
      checkAttempts(attempt, kekId, "migration to a head record");
    }
  }

  /**
   * Moves the head's primary version to {@code created}, just stored one above it; fails with the
   * head's state if the KEK stopped being enabled or another writer took that version first.
   */
  private void movePrimary(KeyEncryptionKey created, String what) {
    String kekId = created.id();
    for (int attempt = 1; ; attempt++) {
      KekView view = KekView.existing(store, kekId);
      KekHead head = view.head();
      if (head.state() != KekState.ENABLED || head.primaryVersion() >= created.version()) {
        cache.invalidate(created.ref());
        throw new KekStateException(
            kekId,
            head.state(),
            "KEK "
                + kekId
                + " changed while its "
                + what
                + " of version "
                + created.version()
                + " was under way: it is "
                + head.state()
                + " at primary version "
                + head.primaryVersion()
                + "; version "
                + created.version()
                + " is never used");
      }
      if (view.write(store, nextHead(head).primaryVersion(created.version())).isPresent()) {
        primaryChanged.accept(kekId);
        return;
      }
      checkAttempts(attempt, kekId, what);
    }
  }

  KeyEncryptionKey rotate(String kekId) {
    KekRef.checkId(kekId);
    return audit.step(
        AuditEvent.Type.ROTATE,
        kekId,
        note -> {
          KeyEncryptionKey mine = null; // the version record this rotation wrote
          for (int attempt = 1; ; attempt++) {
            KekView view = KekView.existing(store, kekId);
            KekHead head = view.head();
            note.version(head.primaryVersion() + 1).cmk(head.cmkUri());
            if (head.state() != KekState.ENABLED && mine != null) {
              cache.invalidate(mine.ref());
            }
            requireState(head, "rotate", KekState.ENABLED);
            if (!view.stored()) {
              view.write(store, head.toBuilder()); // migrate first: the head must order this
              continue;
            }
            if (mine == null
                || mine.version() <= head.primaryVersion()
                || !mine.cmkUri().equals(head.cmkUri())) {
              if (mine != null) {
                cache.invalidate(mine.ref()); // never named: nothing is wrapped under it
              }
              // Past every stored version: one above the primary may be another rotation's.
              KekRef next =
                  new KekRef(kekId, Math.max(head.primaryVersion(), view.highestStored()) + 1);
              note.version(next.version());
              mine =
                  newVersion(next, head.cmkUri(), wrapper(head.cmkUri(), kekId, "rotating"))
                      .orElse(null);
              if (mine == null) {
                checkAttempts(attempt, kekId, "rotation");
                continue; // another writer stored that version first
              }
            }
            if (view.write(store, nextHead(head).primaryVersion(mine.version())).isPresent()) {
              primaryChanged.accept(kekId);
              note.detail("new primary " + mine.ref() + ", previous v" + head.primaryVersion());
              log.info("Rotated KEK {} to version {}", kekId, mine.version());
              return mine;
            }
            checkAttempts(attempt, kekId, "rotation");
          }
        });
  }

  /**
   * Creates version record {@code ref} from 32 fresh random bytes wrapped by {@code wrapper}, and
   * caches the plaintext; empty if another writer created that version first.
   */
  private Optional<KeyEncryptionKey> newVersion(KekRef ref, URI cmkUri, KmsWrapper wrapper) {
    byte[] plaintext = Randoms.bytes(DefaultKeyManager.KEK_LENGTH);
    byte[] owned = plaintext; // overwritten below unless the cache takes it
    try {
      byte[] wrapped =
          audit.call(
              "wrap",
              ref,
              cmkUri,
              () -> wrapper.wrap(plaintext, DefaultKeyManager.kekContext(ref)));
      KeyEncryptionKey record = record(ref, cmkUri, wrapped);
      if (!store.create(record)) {
        return Optional.empty();
      }
      log.info("Created KEK {} under {}", ref, cmkUri);
      cache.put(ref, plaintext);
      owned = null; // the cache owns it now
      return Optional.of(record);
    } finally {
      if (owned != null) {
        Arrays.fill(owned, (byte) 0);
      }
    }
  }

  private KeyEncryptionKey record(KekRef ref, URI cmkUri, byte[] wrapped) {
    return KeyEncryptionKey.builder()
        .id(ref.id())
        .version(ref.version())
        .cmkUri(cmkUri)
        .wrappedMaterial(wrapped)
        .createdAt(clock.instant())
        .build();
  }

  /** A builder for the next head after {@code head}, stamped now; the revision is set on write. */
  KekHead.Builder nextHead(KekHead head) {
    return nextHead(head, clock);
  }

  static KekHead.Builder nextHead(KekHead head, InstantSource clock) {
    Instant now = clock.instant();
    return head.toBuilder().updatedAt(now.isBefore(head.updatedAt()) ? head.updatedAt() : now);
  }

  // ---------------------------------------------------------------- change of CMK

  /**
   * Moves the head to {@code newCmk} (one compare-and-set: from then on every rotation wraps under
   * it), then re-wraps every version record under it. A later change of CMK that moved the head
   * again takes over the re-wrapping: this one stops at the first version it would overwrite.
   */
  KekDescription changeCmk(String kekId, URI newCmk) {
    KekRef.checkId(kekId);
    requireNonNull(newCmk, "newCmkUri");
    return audit.step(
        AuditEvent.Type.CHANGE_CMK,
        kekId,
        note -> {
          note.cmk(newCmk);
          KmsWrapper wrapper = wrapper(newCmk, kekId, "moving to");
          KmsUnwrapper check = kms.unwrapper(newCmk);
          KekHead head;
          KekView view;
          for (int attempt = 1; ; attempt++) {
            view = KekView.existing(store, kekId);
            requireState(view.head(), "change the CMK of", KekState.ENABLED, KekState.DISABLED);
            if (view.stored() && view.head().cmkUri().equals(newCmk)) {
              head = view.head(); // moved already: finish re-wrapping
              break;
            }
            Optional<KekHead> written = view.write(store, nextHead(view.head()).cmkUri(newCmk));
            if (written.isPresent()) {
              head = written.get();
              break;
            }
            checkAttempts(attempt, kekId, "change of CMK");
          }
          primaryChanged.accept(kekId);
          List<Integer> moved = new ArrayList<>();
          // The description shows the records as this call left them: those read with the head
          // it wrote on, each it re-wrapped replaced by what it wrote (a re-read could carry a
          // later destruction's erasure).
          List<KeyEncryptionKey> shown = new ArrayList<>();
          for (KeyEncryptionKey v : view.records()) {
            Optional<KeyEncryptionKey> written = move(v, newCmk, wrapper, check);
            written.ifPresent(w -> moved.add(w.version()));
            shown.add(written.orElse(v));
          }
          note.detail("versions moved " + moved);
          log.info("KEK {}: versions {} moved to CMK {}", kekId, moved, newCmk);
          return new KekView(head, true, shown).describe();
        });
  }

  /** Re-wraps one version's KEK bytes under {@code newCmk}: the record written, or empty. */
  private Optional<KeyEncryptionKey> move(
      KeyEncryptionKey version, URI newCmk, KmsWrapper wrapper, KmsUnwrapper check) {
    KeyEncryptionKey current = version;
    for (int attempt = 1; ; attempt++) {
      if (current.state() == KekState.DESTROYED || current.cmkUri().equals(newCmk)) {
        return Optional.empty();
      }
      if (!store.head(version.id()).map(h -> h.cmkUri().equals(newCmk)).orElse(false)) {
        return Optional
            .empty(); // a later change of CMK moved the head again and re-wraps this version
      }
      KekRef ref = current.ref();
      URI oldCmk = current.cmkUri();
      KmsUnwrapper unwrapper = kms.unwrapper(oldCmk);
      byte[] oldMaterial = current.wrappedMaterial();
      byte[] plaintext =
          audit.call(
              "unwrap",
              ref,
              oldCmk,
              () -> unwrapper.unwrap(oldMaterial, DefaultKeyManager.kekContext(ref)));
      try {
        byte[] wrapped =
            audit.call(
                "wrap",
                ref,
                newCmk,
                () -> wrapper.wrap(plaintext, DefaultKeyManager.kekContext(ref)));
        byte[] back =
            audit.call(
                "unwrap",
                ref,
                newCmk,
                () -> check.unwrap(wrapped, DefaultKeyManager.kekContext(ref)));
        try {
          if (!MessageDigest.isEqual(back, plaintext)) {
            throw new InvalidCiphertextException(
                "CMK "
                    + newCmk
                    + " did not unwrap what it wrapped for KEK "
                    + ref
                    + "; the KEK stays under "
                    + oldCmk);
          }
        } finally {
          Arrays.fill(back, (byte) 0);
        }
        KeyEncryptionKey next =
            successor(current, clock).cmkUri(newCmk).wrappedMaterial(wrapped).build();
        if (store.compareAndSet(current.revision(), next)) {
          return Optional.of(next);
        }
      } finally {
        Arrays.fill(plaintext, (byte) 0);
      }
      checkAttempts(attempt, ref.id(), "change of CMK");
      Optional<KeyEncryptionKey> reread = store.find(ref.id(), ref.version());
      if (reread.isEmpty()) {
        return Optional.empty();
      }
      current = reread.get();
    }
  }

  // ---------------------------------------------------------------- reads and helpers

  Optional<KekDescription> describe(String kekId) {
    return KekView.read(store, kekId).map(KekView::describe);
  }

  /** The current primary version of {@code kekId}, read from the store. */
  KekRef primary(String kekId) {
    return KekView.existing(store, kekId).primary();
  }

  /** Refuses with the KEK's state unless its head is in one of {@code allowed}. */
  static void requireState(KekHead head, String verb, KekState... allowed) {
    for (KekState s : allowed) {
      if (head.state() == s) {
        return;
      }
    }
    throw new KekStateException(
        head.id(),
        head.state(),
        "Cannot "
            + verb
            + " KEK "
            + head.id()
            + ": it is "
            + head.state()
            + " (allowed from "
            + Arrays.toString(allowed)
            + ")");
  }

  /** The next revision of {@code v}, stamped now (never before its creation). */
  static KeyEncryptionKey.Builder successor(KeyEncryptionKey v, InstantSource clock) {
    Instant now = clock.instant();
    return v.toBuilder()
        .revision(v.revision() + 1)
        .updatedAt(now.isBefore(v.createdAt()) ? v.createdAt() : now);
  }

  /** Drops every version of {@code kekId} from the cache (each overwritten once unused). */
  static void invalidateVersions(KekStore store, KekCache cache, String kekId) {
    for (KeyEncryptionKey v : store.versions(kekId)) {
      cache.invalidate(v.ref());
    }
  }

  private KmsWrapper wrapper(URI cmkUri, String kekId, String doing) {
    return kms.wrapper(cmkUri)
        .orElseThrow(
            () ->
                new KeyManagerConfigException(
                    "The KMS provider for "
                        + cmkUri
                        + " can only unwrap; "
                        + doing
                        + " KEK "
                        + kekId
                        + " needs wrap rights. Import a pre-wrapped KEK instead."));
  }

  /** Gives up, retryably, after {@link #MAX_ATTEMPTS} compare-and-set conflicts. */
  static void checkAttempts(int attempt, String kekId, String what) {
    if (attempt >= MAX_ATTEMPTS) {
      throw KekStoreException.retryable(
          "Gave up the "
              + what
              + " of KEK "
              + kekId
              + " after "
              + attempt
              + " compare-and-set conflicts with other writers; try again",
          null);
    }
  }
}
