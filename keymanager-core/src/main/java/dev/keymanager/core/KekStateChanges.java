package dev.keymanager.core;

import static dev.keymanager.core.KekLifecycle.checkAttempts;
import static dev.keymanager.core.KekLifecycle.nextHead;
import static dev.keymanager.core.KekLifecycle.requireState;
import static dev.keymanager.core.KekLifecycle.successor;
import static java.util.Objects.requireNonNull;

import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.AuditEvent;
import dev.keymanager.spi.KekHead;
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
 * <p>Each is one compare-and-set on the KEK's head ({@link KekHead}), re-reading and re-checking
 * the state it starts from on conflict; the head orders it against every rotation and every other
 * change. Its returned description is built from the head it wrote. Versions that may no longer be
 * used are dropped from the cache at once. A destruction then erases the wrapped material of every
 * version record; one cut short is completed by running it again (or by {@code destroyDueKeks}).
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

  /** One KEK-wide state change: which states it starts from and the head it makes. */
  private record Transition(
      AuditEvent.Type type,
      String verb,
      Set<KekState> from,
      KekState to,
      UnaryOperator<KekHead.Builder> change) {}

  KekDescription disable(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.DISABLE,
            "disable",
            EnumSet.of(KekState.ENABLED, KekState.DISABLED),
            KekState.DISABLED,
            h -> h.state(KekState.DISABLED)),
        kekId);
  }

  KekDescription enable(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.ENABLE,
            "enable",
            EnumSet.of(KekState.DISABLED, KekState.ENABLED),
            KekState.ENABLED,
            h -> h.state(KekState.ENABLED)),
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
            h -> h.state(KekState.PENDING_DESTRUCTION).destroyAt(destroyAt)),
        kekId);
  }

  KekDescription cancelDestruction(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.CANCEL_DESTRUCTION,
            "cancel the destruction of",
            EnumSet.of(KekState.PENDING_DESTRUCTION),
            KekState.DISABLED,
            h -> h.state(KekState.DISABLED).destroyAt(null)),
        kekId);
  }

  KekDescription destroy(String kekId) {
    return transition(
        new Transition(
            AuditEvent.Type.DESTROY,
            "destroy",
            EnumSet.of(KekState.PENDING_DESTRUCTION, KekState.DESTROYED),
            KekState.DESTROYED,
            h -> h.state(KekState.DESTROYED).destroyAt(null)),
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
    KekIdPages.forEach(store, unreadable, id -> destroyIfDue(id, now, destroyed, unreadable));
    return destroyed;
  }

  private void destroyIfDue(
      String id, Instant now, List<String> destroyed, Consumer<String> unreadable) {
    try {
      Optional<KekView> view = KekView.read(store, id);
      if (view.isEmpty()) {
        return;
      }
      KekHead head = view.get().head();
      if (head.state() == KekState.PENDING_DESTRUCTION
          && !head.destroyAt().orElseThrow().isAfter(now)) {
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

  private KekDescription transition(Transition t, String kekId) {
    KekRef.checkId(kekId);
    return audit.step(
        t.type(),
        kekId,
        note -> {
          KekView view;
          KekHead written;
          KekState before;
          for (int attempt = 1; ; attempt++) {
            view = KekView.existing(store, kekId);
            KekHead head = view.head();
            before = head.state();
            note.cmk(head.cmkUri());
            requireState(head, t.verb(), t.from().toArray(KekState[]::new));
            if (t.type() == AuditEvent.Type.DESTROY) {
              requireDue(head);
            }
            if (view.stored() && head.state() == t.to()) {
              written = head; // nothing to change: this read is the call's place in the order
              break;
            }
            Optional<KekHead> w = view.write(store, t.change().apply(nextHead(head, clock)));
            if (w.isPresent()) {
              written = w.get();
              break;
            }
            checkAttempts(attempt, kekId, t.verb());
          }
          if (!t.to().isUsable()) {
            KekLifecycle.invalidateVersions(store, cache, kekId);
          }
          primaryChanged.accept(kekId);
          List<Integer> erased = t.to() == KekState.DESTROYED ? eraseMaterial(kekId) : List.of();
          note.detail(
              before
                  + " -> "
                  + t.to()
                  + ", versions "
                  + view.named().stream().map(KeyEncryptionKey::version).toList()
                  + " at head revision "
                  + written.revision()
                  + (erased.isEmpty() ? "" : ", material erased " + erased));
          log.info(
              "KEK {}: {} -> {} (head revision {}); material erased {}",
              kekId,
              before,
              t.to(),
              written.revision(),
              erased);
          // The records read with the head this call wrote on: re-read now, they could carry the
          // erasure of a destruction that came after this call's write.
          return new KekView(written, true, view.records()).describe();
        });
  }

  /** Erases the wrapped material of every version record of a destroyed KEK. */
  private List<Integer> eraseMaterial(String kekId) {
    List<Integer> erased = new ArrayList<>();
    for (KeyEncryptionKey v : store.versions(kekId)) {
      KeyEncryptionKey current = v;
      for (int attempt = 1; current.state() != KekState.DESTROYED; attempt++) {
        KeyEncryptionKey next =
            successor(current, clock)
                .state(KekState.DESTROYED)
                .destroyAt(null)
                .wrappedMaterial(new byte[0])
                .build();
        if (store.compareAndSet(current.revision(), next)) {
          erased.add(v.version());
          break;
        }
        checkAttempts(attempt, kekId, "destruction");
        current = store.find(kekId, v.version()).orElseThrow();
      }
    }
    return erased;
  }

  private void requireDue(KekHead head) {
    if (head.state() != KekState.PENDING_DESTRUCTION) {
      return; // destroyed already: nothing is due
    }
    Instant due = head.destroyAt().orElseThrow();
    if (clock.instant().isBefore(due)) {
      throw new KekStateException(
          head.id(),
          head.state(),
          "KEK "
              + head.id()
              + " is PENDING_DESTRUCTION until "
              + due
              + "; it cannot be destroyed before its pending window ends"
              + " (cancel with cancelKekDestruction)");
    }
  }

  KekDescription setMinimumDecryptionVersion(String kekId, int minimum) {
    KekRef.checkId(kekId);
    return audit.step(
        AuditEvent.Type.SET_MINIMUM_DECRYPTION_VERSION,
        kekId,
        note -> {
          note.version(minimum);
          for (int attempt = 1; ; attempt++) {
            KekView view = KekView.existing(store, kekId);
            KekHead head = view.head();
            note.cmk(head.cmkUri());
            requireState(
                head, "set the minimum decryption version of", KekState.ENABLED, KekState.DISABLED);
            if (minimum < 1 || minimum > head.primaryVersion()) {
              throw new IllegalArgumentException(
                  "minimum decryption version of KEK "
                      + kekId
                      + " must be 1 to the primary version "
                      + head.primaryVersion()
                      + ": "
                      + minimum);
            }
            int previous = head.minimumDecryptionVersion();
            Optional<KekHead> written =
                view.write(store, nextHead(head, clock).minimumDecryptionVersion(minimum));
            if (written.isPresent()) {
              for (KeyEncryptionKey v : view.records()) {
                if (v.version() < minimum) {
                  cache.invalidate(v.ref());
                }
              }
              primaryChanged.accept(kekId);
              note.detail("minimum v" + previous + " -> v" + minimum);
              log.info("KEK {}: minimum decryption version {} -> {}", kekId, previous, minimum);
              return new KekView(written.get(), true, view.records()).describe();
            }
            checkAttempts(attempt, kekId, "change of the minimum decryption version");
          }
        });
  }
}
