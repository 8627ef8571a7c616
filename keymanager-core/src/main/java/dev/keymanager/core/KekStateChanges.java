package dev.keymanager.core;

import static dev.keymanager.core.KekLifecycle.checkAttempts;
import static dev.keymanager.core.KekLifecycle.existing;
import static dev.keymanager.core.KekLifecycle.last;
import static dev.keymanager.core.KekLifecycle.requireState;
import static dev.keymanager.core.KekLifecycle.successor;
import static java.util.Objects.requireNonNull;

import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekStore;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KEK-wide state changes of {@link dev.keymanager.KeyManager}: disable, enable, scheduled
 * destruction, its cancellation, destruction, and the minimum decryption version. No KMS call.
 *
 * <p>Each walks the KEK's versions oldest first, primary last, with one compare-and-set per record
 * (re-reading on conflict), then lists the versions again and walks any created meanwhile (a
 * concurrent rotation), until a listing shows none. The KEK's state is its primary's, so a change
 * cut short leaves the KEK in its old state, and running it again completes it. Versions that may
 * no longer be used are dropped from the cache at once.
 */
final class KekStateChanges {
  private static final Logger log = LoggerFactory.getLogger(KekStateChanges.class);

  private final KekStore store;
  private final KekCache cache;
  private final KmsAudit audit;
  private final InstantSource clock;
  private final Duration minimumWindow;
  private final Duration maximumWindow;
  private final Consumer<String> primaryChanged;

  KekStateChanges(
      KekStore store,
      KekCache cache,
      KmsAudit audit,
      InstantSource clock,
      Duration minimumWindow,
      Duration maximumWindow,
      Consumer<String> primaryChanged) {
    this.store = store;
    this.cache = cache;
    this.audit = audit;
    this.clock = clock;
    this.minimumWindow = minimumWindow;
    this.maximumWindow = maximumWindow;
    this.primaryChanged = primaryChanged;
  }

  /** One KEK-wide state change: which states it starts from and what it does to each version. */
  private record Transition(
      AuditEvent.Type type,
      String verb,
      Set<KekState> from,
      KekState to,
      UnaryOperator<KeyEncryptionKey> change) {}

  KekDescription disable(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.DISABLE,
            "disable",
            EnumSet.of(KekState.ENABLED, KekState.DISABLED),
            KekState.DISABLED,
            v -> v.state() == KekState.ENABLED ? to(v, KekState.DISABLED).build() : null),
        kekId);
  }

  KekDescription enable(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.ENABLE,
            "enable",
            EnumSet.of(KekState.DISABLED, KekState.ENABLED),
            KekState.ENABLED,
            v -> v.state() == KekState.DISABLED ? to(v, KekState.ENABLED).build() : null),
        kekId);
  }

  KekDescription scheduleDestruction(String kekId, Duration window) {
    requireNonNull(window, "window");
    if (window.compareTo(minimumWindow) < 0 || window.compareTo(maximumWindow) > 0) {
      throw new IllegalArgumentException(
          "pending window for destroying KEK "
              + kekId
              + " must be between "
              + minimumWindow
              + " and "
              + maximumWindow
              + ": "
              + window);
    }
    Instant destroyAt = clock.instant().plus(window);
    return transition(
        new Transition(
            AuditEvent.Type.SCHEDULE_DESTRUCTION,
            "schedule the destruction of",
            EnumSet.of(KekState.ENABLED, KekState.DISABLED),
            KekState.PENDING_DESTRUCTION,
            v ->
                v.state() == KekState.ENABLED || v.state() == KekState.DISABLED
                    ? to(v, KekState.PENDING_DESTRUCTION).destroyAt(destroyAt).build()
                    : null),
        kekId);
  }

  KekDescription cancelDestruction(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.CANCEL_DESTRUCTION,
            "cancel the destruction of",
            EnumSet.of(KekState.PENDING_DESTRUCTION),
            KekState.DISABLED,
            v ->
                v.state() == KekState.PENDING_DESTRUCTION
                    ? to(v, KekState.DISABLED).build()
                    : null),
        kekId);
  }

  KekDescription destroy(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.DESTROY,
            "destroy",
            EnumSet.of(KekState.PENDING_DESTRUCTION, KekState.DESTROYED),
            KekState.DESTROYED,
            v ->
                v.state() == KekState.DESTROYED
                    ? null
                    : to(v, KekState.DESTROYED).wrappedMaterial(new byte[0]).build()),
        kekId);
  }

  /**
   * Destroys every KEK whose pending window has ended. A KEK whose records cannot be read (corrupt:
   * a non-retryable store failure) is skipped and passed to {@code unreadable}, so one bad record
   * blocks no other destruction; a failure of the medium (retryable) ends the call.
   */
  List<String> destroyDue(Consumer<String> unreadable) {
    Instant now = clock.instant();
    List<String> destroyed = new ArrayList<>();
    dev.keymanager.spi.KekIdListing listing = store.listKekIds();
    listing.unreadable().forEach(unreadable);
    for (String id : listing.ids()) {
      try {
        List<KeyEncryptionKey> versions = store.versions(id);
        if (versions.isEmpty()) {
          continue;
        }
        KeyEncryptionKey primary = last(versions);
        if (primary.state() == KekState.PENDING_DESTRUCTION
            && !primary.destroyAt().orElseThrow().isAfter(now)) {
          try {
            destroy(id);
            destroyed.add(id);
          } catch (KekStateException e) {
            log.info("KEK {} was not destroyed: {}", id, e.getMessage()); // cancelled meanwhile
          }
        }
      } catch (dev.keymanager.KekStoreException e) {
        if (e.isRetryable()) {
          throw e;
        }
        unreadable.accept("KEK " + id + ": " + e.getMessage());
      }
    }
    return destroyed;
  }

  private KekDescription transition(Transition t, String kekId) {
    KekRef.checkId(kekId);
    return audit.step(
        t.type(),
        kekId,
        note -> {
          List<Integer> changed = new ArrayList<>();
          KekState before = null;
          int done = 0; // versions up to this one have been walked
          for (int pass = 1; ; pass++) {
            List<KeyEncryptionKey> versions = existing(store, kekId);
            KeyEncryptionKey primary = last(versions);
            if (before == null) {
              before = primary.state();
              note.cmk(primary.cmkUri());
              requireState(primary, t.verb(), t.from().toArray(KekState[]::new));
              if (t.type() == AuditEvent.Type.DESTROY) {
                requireDue(primary);
              }
            }
            if (primary.version() == done) {
              break; // no version appeared since the last walk
            }
            for (KeyEncryptionKey v : versions) {
              if (v.version() > done && apply(v, t.change())) {
                changed.add(v.version());
              }
            }
            done = primary.version();
            checkAttempts(pass, kekId, t.verb());
          }
          if (!t.to().isUsable()) {
            KekLifecycle.invalidateVersions(store, cache, kekId);
          }
          primaryChanged.accept(kekId);
          note.detail(before + " -> " + t.to() + ", versions changed " + changed);
          log.info("KEK {}: {} -> {}, versions changed {}", kekId, before, t.to(), changed);
          return new KekDescription(existing(store, kekId));
        });
  }

  private void requireDue(KeyEncryptionKey primary) {
    if (primary.state() != KekState.PENDING_DESTRUCTION) {
      return; // destroyed already: nothing is due
    }
    Instant due = primary.destroyAt().orElseThrow();
    if (clock.instant().isBefore(due)) {
      throw new KekStateException(
          primary.id(),
          primary.state(),
          "KEK "
              + primary.id()
              + " is PENDING_DESTRUCTION until "
              + due
              + "; it cannot be destroyed before its pending window ends"
              + " (cancel with cancelKekDestruction)");
    }
  }

  /**
   * Applies {@code change} to one version with compare-and-set, re-reading on conflict.
   *
   * @return whether the record changed
   */
  private boolean apply(KeyEncryptionKey version, UnaryOperator<KeyEncryptionKey> change) {
    KeyEncryptionKey current = version;
    for (int attempt = 1; ; attempt++) {
      KeyEncryptionKey next = change.apply(current);
      if (next == null) {
        return false;
      }
      if (store.compareAndSet(current.revision(), next)) {
        return true;
      }
      checkAttempts(attempt, version.id(), "state change");
      Optional<KeyEncryptionKey> reread = store.find(version.id(), version.version());
      if (reread.isEmpty()) {
        return false;
      }
      current = reread.get();
    }
  }

  private KeyEncryptionKey.Builder to(KeyEncryptionKey v, KekState state) {
    return successor(v, clock).state(state).destroyAt(null);
  }

  KekDescription setMinimumDecryptionVersion(String kekId, int minimum) {
    KekRef.checkId(kekId);
    return audit.step(
        AuditEvent.Type.SET_MINIMUM_DECRYPTION_VERSION,
        kekId,
        note -> {
          note.version(minimum);
          List<KeyEncryptionKey> versions = existing(store, kekId);
          KeyEncryptionKey primary = last(versions);
          note.cmk(primary.cmkUri());
          requireState(
              primary,
              "set the minimum decryption version of",
              KekState.ENABLED,
              KekState.DISABLED);
          if (minimum < 1 || minimum > primary.version()) {
            throw new IllegalArgumentException(
                "minimum decryption version of KEK "
                    + kekId
                    + " must be 1 to the primary version "
                    + primary.version()
                    + ": "
                    + minimum);
          }
          KekState live = primary.state();
          List<Integer> retired = new ArrayList<>();
          List<Integer> restored = new ArrayList<>();
          // Retire upwards and restore downwards, so that a run cut short leaves a prefix retired
          // and the minimum read back from the states is always one that was asked for or held.
          for (KeyEncryptionKey v : versions) {
            if (v.version() < minimum
                && apply(
                    v,
                    x ->
                        x.state() == KekState.ENABLED || x.state() == KekState.DISABLED
                            ? to(x, KekState.RETIRED).build()
                            : null)) {
              retired.add(v.version());
              cache.invalidate(v.ref());
            }
          }
          for (int i = versions.size() - 1; i >= 0; i--) {
            KeyEncryptionKey v = versions.get(i);
            if (v.version() >= minimum
                && apply(v, x -> x.state() == KekState.RETIRED ? to(x, live).build() : null)) {
              restored.add(v.version());
            }
          }
          note.detail("retired " + retired + ", restored " + restored);
          log.info(
              "KEK {}: minimum decryption version {}; retired {}, restored {}",
              kekId,
              minimum,
              retired,
              restored);
          return new KekDescription(existing(store, kekId));
        });
  }
}
