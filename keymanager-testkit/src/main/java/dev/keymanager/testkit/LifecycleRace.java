package dev.keymanager.testkit;

import static java.util.Objects.requireNonNull;

import dev.keymanager.DataKey;
import dev.keymanager.KekAdmin;
import dev.keymanager.KekDescription;
import dev.keymanager.KekNotFoundException;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.testkit.LifecycleHistory.Kind;
import dev.keymanager.testkit.LifecycleHistory.Op;
import dev.keymanager.testkit.LifecycleHistory.Outcome;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;

/**
 * A randomised lifecycle workload for one node of a fleet: threads that call every lifecycle
 * operation (create, import, rotate, minimum decryption version, change of CMK, disable, enable,
 * schedule and cancel destruction, destroy), describe and wrap, on KEKs picked at random from a
 * list every node shares, and record each call in a {@link LifecycleHistory}. Run it on several key
 * managers over one store at once, then hand the history to {@link LinearizabilityChecker}.
 *
 * <p>The key manager must use {@code kms} for the CMKs given and allow a destruction window of zero
 * ({@code KeyManagers.builder().minimumDestructionWindow(Duration.ZERO)}): destructions are
 * scheduled with no window so that a destroy may follow at once.
 */
public final class LifecycleRace {
  /** The context every wrap of the workload binds. */
  public static final KeyContext CONTEXT = KeyContext.of("lifecycle", "race");

  private final KeyManager keys;
  private final FakeKms kms;
  private final String node;
  private final List<String> kekIds;
  private final List<URI> cmks;

  /**
   * A workload for one node.
   *
   * @param keys the node's key manager
   * @param kms the KMS serving {@code cmks}, to pre-wrap imported material
   * @param node the node's name in the history (no spaces or tabs)
   * @param kekIds the KEKs to race on, shared by every node
   * @param cmks the CMKs to create under and move to, shared by every node
   */
  public LifecycleRace(
      KeyManager keys, FakeKms kms, String node, List<String> kekIds, List<URI> cmks) {
    this.keys = requireNonNull(keys, "keys");
    this.kms = requireNonNull(kms, "kms");
    this.node = requireNonNull(node, "node");
    this.kekIds = List.copyOf(kekIds);
    this.cmks = List.copyOf(cmks);
    if (this.kekIds.isEmpty() || this.cmks.isEmpty()) {
      throw new IllegalArgumentException("needs at least one KEK id and one CMK");
    }
  }

  /** {@code count} KEK ids {@code prefix-0} to {@code prefix-(count-1)}. */
  public static List<String> kekIds(String prefix, int count) {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      ids.add(prefix + "-" + i);
    }
    return ids;
  }

  /**
   * Runs {@code ops} operations on {@code threads} threads (seeded from {@code seed}) and adds each
   * to {@code history}; returns when all have returned.
   */
  public void run(int ops, int threads, long seed, LifecycleHistory history)
      throws InterruptedException {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int share = ops / threads + (t < ops % threads ? 1 : 0);
        Random random = new Random(seed * 31 + t);
        done.add(pool.submit(() -> worker(share, random, history)));
      }
      for (Future<?> f : done) {
        try {
          f.get();
        } catch (ExecutionException e) {
          throw new IllegalStateException("workload thread of " + node + " failed", e.getCause());
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private void worker(int ops, Random random, LifecycleHistory history) {
    for (int i = 0; i < ops; i++) {
      String id = kekIds.get(random.nextInt(kekIds.size()));
      history.add(one(id, random));
    }
  }

  private Op one(String id, Random random) {
    KekAdmin admin = keys.admin();
    URI cmk = cmks.get(random.nextInt(cmks.size()));
    int dice = random.nextInt(100);
    if (dice < 8) {
      return record(Kind.CREATE, id, cmk.toString(), () -> admin.createKek(id, cmk));
    } else if (dice < 14) {
      int version = admin.describeKekVersions(id).map(d -> d.primaryVersion() + 1).orElse(1);
      byte[] material = wrappedMaterial(new KekRef(id, version), cmk, random);
      return record(
          Kind.IMPORT,
          id,
          cmk.toString(),
          version,
          () -> admin.importKek(new KekRef(id, version), cmk, material));
    } else if (dice < 28) {
      return record(Kind.ROTATE, id, "-", () -> admin.rotateKek(id));
    } else if (dice < 35) {
      int primary = admin.describeKekVersions(id).map(KekDescription::primaryVersion).orElse(1);
      int minimum = 1 + random.nextInt(primary);
      return describing(
          Kind.SET_MINIMUM,
          id,
          Integer.toString(minimum),
          () -> admin.setMinimumDecryptionVersion(id, minimum));
    } else if (dice < 41) {
      return describing(Kind.CHANGE_CMK, id, cmk.toString(), () -> admin.changeCmk(id, cmk));
    } else if (dice < 53) {
      return describing(Kind.DISABLE, id, "-", () -> admin.disableKek(id));
    } else if (dice < 65) {
      return describing(Kind.ENABLE, id, "-", () -> admin.enableKek(id));
    } else if (dice < 70) {
      return describing(
          Kind.SCHEDULE_DESTRUCTION,
          id,
          "-",
          () -> admin.scheduleKekDestruction(id, Duration.ZERO));
    } else if (dice < 76) {
      return describing(Kind.CANCEL_DESTRUCTION, id, "-", () -> admin.cancelKekDestruction(id));
    } else if (dice < 79) {
      return describing(Kind.DESTROY, id, "-", () -> admin.destroyKek(id));
    } else if (dice < 87) {
      return describing(
          Kind.DESCRIBE,
          id,
          "-",
          () ->
              admin
                  .describeKekVersions(id)
                  .orElseThrow(() -> new KekNotFoundException(id, "described as absent")));
    }
    return wrap(id);
  }

  private byte[] wrappedMaterial(KekRef ref, URI cmk, Random random) {
    byte[] plaintext = new byte[32];
    random.nextBytes(plaintext);
    try {
      return kms.wrapper(cmk).orElseThrow().wrap(plaintext, KekAdmin.kmsContextFor(ref));
    } finally {
      Arrays.fill(plaintext, (byte) 0);
    }
  }

  private Op record(Kind kind, String id, String argument, Supplier<KeyEncryptionKey> call) {
    return record(kind, id, argument, 0, call);
  }

  /** A call returning a version record (create, import, rotate). */
  private Op record(
      Kind kind, String id, String argument, int asked, Supplier<KeyEncryptionKey> call) {
    long invoked = System.nanoTime();
    try {
      KeyEncryptionKey r = call.get();
      return new Op(
          node,
          kind,
          id,
          argument,
          invoked,
          System.nanoTime(),
          Outcome.OK,
          null,
          r.version(),
          0,
          r.cmkUri().toString());
    } catch (RuntimeException e) {
      return failure(kind, id, argument, invoked, asked, e);
    }
  }

  /** A call returning a description (every state change, describe). */
  private Op describing(Kind kind, String id, String argument, Supplier<KekDescription> call) {
    long invoked = System.nanoTime();
    try {
      KekDescription d = call.get();
      return new Op(
          node,
          kind,
          id,
          argument,
          invoked,
          System.nanoTime(),
          Outcome.OK,
          d.state(),
          d.primaryVersion(),
          d.minimumDecryptionVersion(),
          "-");
    } catch (RuntimeException e) {
      return failure(kind, id, argument, invoked, 0, e);
    }
  }

  private Op wrap(String id) {
    long invoked = System.nanoTime();
    try (DataKey dek = keys.generateDek(id, CONTEXT)) {
      int version = dek.wrappedKey().kek().version();
      return new Op(
          node, Kind.WRAP, id, "-", invoked, System.nanoTime(), Outcome.OK, null, version, 0, "-");
    } catch (RuntimeException e) {
      return failure(Kind.WRAP, id, "-", invoked, 0, e);
    }
  }

  private Op failure(Kind kind, String id, String argument, long invoked, int asked, Exception e) {
    long returned = System.nanoTime();
    if (e instanceof KekNotFoundException) {
      return new Op(
          node, kind, id, argument, invoked, returned, Outcome.NOT_FOUND, null, asked, 0, "-");
    }
    if (e instanceof KekStateException s) {
      Optional<dev.keymanager.KekState> state = s.state();
      return new Op(
          node,
          kind,
          id,
          argument,
          invoked,
          returned,
          Outcome.REFUSED,
          state.orElse(null),
          asked,
          0,
          "-");
    }
    return new Op(
        node,
        kind,
        id,
        argument,
        invoked,
        returned,
        Outcome.FAILED,
        null,
        asked,
        0,
        e.getClass().getSimpleName());
  }
}
