package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.DataKey;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@value #NODES} nodes over one database, as a fleet runs: each node is a {@link KeyManager} built
 * with {@link KeyManagers#builder()}, with its own cache, its own {@link JdbcKekStore} and its own
 * HikariCP pool, all on one schema of one PostgreSQL server, and one {@link FakeKms} standing in
 * for the customer's KMS that every node reaches. Every node acts at once, released by a barrier.
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class MultiNodeTest {
  static final int NODES = 4;
  private static final int KEKS = 12;
  private static final Duration HARD_TTL = Duration.ofMinutes(5);
  private static final URI CMK = FakeKms.cmk("fleet-cmk");
  private static final long TIMEOUT_SECONDS = 60;
  private static final String LOST = "lost";

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final List<Node> nodes = new ArrayList<>();
  private ExecutorService executor;

  /** One node: its own pool, store and key manager. */
  record Node(int index, HikariDataSource pool, JdbcKekStore store, KeyManager keys) {
    void close() {
      keys.close();
      store.close();
      pool.close();
    }

    @Override
    public String toString() {
      return "node-" + index;
    }
  }

  @BeforeEach
  void startNodes() {
    String schema = server().newSchema();
    for (int i = 0; i < NODES; i++) {
      HikariDataSource pool = server().pool("node-" + i, 4, config -> {});
      JdbcKekStore store = JdbcKekStore.builder().dataSource(pool).schema(schema).build();
      KeyManager keys =
          KeyManagers.builder()
              .kekStore(store)
              .kmsProvider(kms)
              .discoverProviders(false)
              .hardTtl(HARD_TTL)
              .clock(clock)
              .build();
      nodes.add(new Node(i, pool, store, keys));
    }
    executor = Executors.newFixedThreadPool(NODES);
  }

  @AfterEach
  void stopNodes() throws InterruptedException {
    executor.shutdownNow();
    assertThat(executor.awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();
    nodes.forEach(Node::close);
  }

  @Test
  void concurrentCreatesOfTheSameKeksLetExactlyOneNodeWinEach() throws Exception {
    List<String> ids = kekIds();
    List<List<Object>> outcomes = onEveryNode((node, barrier) -> createAll(node, barrier, ids));

    for (int k = 0; k < KEKS; k++) {
      String id = ids.get(k);
      List<KeyEncryptionKey> winners = new ArrayList<>();
      for (List<Object> perNode : outcomes) {
        Object outcome = perNode.get(k);
        if (outcome instanceof KeyEncryptionKey record) {
          winners.add(record);
        } else {
          assertThat(outcome)
              .as("losing create of %s", id)
              .isInstanceOfSatisfying(
                  KekStateException.class,
                  e -> {
                    assertThat(e.kekId()).isEqualTo(id);
                    assertThat(e.isRetryable()).isFalse();
                  });
        }
      }
      assertThat(winners).as("winners for %s", id).hasSize(1);
      for (Node node : nodes) {
        assertThat(node.store().versions(id))
            .as("%s on %s", id, node)
            .containsExactly(winners.get(0));
        assertThat(node.keys().admin().describeKek(id)).contains(winners.get(0));
      }
    }
    for (Node node : nodes) {
      assertThat(node.keys().admin().listKeks())
          .as("ids on %s", node)
          .containsExactlyElementsOf(ids);
    }
  }

  @Test
  void everyDekWrappedOnAnyNodeUnwrapsOnEveryOther() throws Exception {
    List<String> ids = kekIds();
    for (int k = 0; k < KEKS; k++) {
      nodes.get(k % NODES).keys().admin().createKek(ids.get(k), CMK);
    }
    kms.resetCounts();
    ConcurrentLinkedQueue<Sealed> sealed = new ConcurrentLinkedQueue<>();

    onEveryNode(
        (node, barrier) -> {
          barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
          for (String id : ids) {
            for (int d = 0; d < 3; d++) {
              sealed.add(
                  Sealed.generate(node, id, KeyContext.of("file", node + "/" + id + "/" + d)));
            }
          }
          return List.of();
        });
    onEveryNode(
        (node, barrier) -> {
          barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
          for (Sealed s : sealed) {
            s.assertUnwrapsOn(node);
          }
          return List.of();
        });

    assertThat(sealed).hasSize(NODES * KEKS * 3);
    // Each node unwraps each KEK it did not create once, through the KMS; DEKs are then local.
    assertThat(kms.unwrapCalls()).isLessThanOrEqualTo((long) KEKS * (NODES - 1));
  }

  /**
   * Four nodes race to create version n + 1 of each KEK in the store, as concurrent rotations do:
   * exactly one wins each version, every node then reads the same gap-free history, and every node
   * wraps under the newest version once the hard TTL has passed since it last read the primary.
   */
  @Test
  void racingVersionCreationLetsOneNodeWinAndEveryNodeSeesItWithinTheHardTtl() throws Exception {
    List<String> ids = kekIds();
    for (int k = 0; k < KEKS; k++) {
      nodes.get(k % NODES).keys().admin().createKek(ids.get(k), CMK);
    }
    // Every node wraps under v1 now, so each caches v1 as the primary of every KEK.
    List<Sealed> underV1 = new ArrayList<>();
    for (Node node : nodes) {
      for (String id : ids) {
        underV1.add(Sealed.generate(node, id, KeyContext.of("before", node.toString())));
      }
    }
    int lastVersion = 4;

    for (int version = 2; version <= lastVersion; version++) {
      int v = version;
      List<List<Object>> outcomes =
          onEveryNode(
              (node, barrier) -> {
                List<Object> won = new ArrayList<>();
                for (String id : ids) {
                  KeyEncryptionKey next = newVersion(id, v);
                  barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                  won.add(node.store().create(next) ? next : LOST);
                }
                return won;
              });
      for (int k = 0; k < KEKS; k++) {
        int kk = k;
        assertThat(outcomes.stream().filter(o -> o.get(kk) instanceof KeyEncryptionKey).count())
            .as("winners of %s v%s", ids.get(k), v)
            .isEqualTo(1);
      }
    }
    for (Node node : nodes) {
      for (String id : ids) {
        assertThat(node.store().versions(id))
            .as("history of %s on %s", id, node)
            .extracting(KeyEncryptionKey::version)
            .containsExactly(1, 2, 3, 4);
      }
    }

    clock.advance(HARD_TTL.plusSeconds(1));

    List<Sealed> afterBound = new ArrayList<>();
    for (Node node : nodes) {
      for (String id : ids) {
        Sealed s = Sealed.generate(node, id, KeyContext.of("after", node.toString()));
        assertThat(s.wrapped().kek().version())
            .as("primary of %s on %s one hard TTL after the rotation", id, node)
            .isEqualTo(lastVersion);
        afterBound.add(s);
      }
    }
    for (Node node : nodes) {
      for (Sealed s : underV1) {
        s.assertUnwrapsOn(node);
      }
      for (Sealed s : afterBound) {
        s.assertUnwrapsOn(node);
      }
    }
  }

  /**
   * Every node rotates every KEK at once, twice: each rotation creates its own version, so no
   * rotation is lost and no version is made twice, the history is gap-free, and every node reads
   * the same single primary (the newest version). DEKs wrapped under any version on any node unwrap
   * on every other.
   */
  @Test
  void concurrentRotationsFromEveryNodeLoseNoneAndLeaveOnePrimary() throws Exception {
    List<String> ids = kekIds();
    for (int k = 0; k < KEKS; k++) {
      nodes.get(k % NODES).keys().admin().createKek(ids.get(k), CMK);
    }
    int rounds = 2;
    List<Sealed> sealed = new ArrayList<>();

    for (int round = 0; round < rounds; round++) {
      List<List<Object>> rotated =
          onEveryNode(
              (node, barrier) -> {
                List<Object> versions = new ArrayList<>();
                for (String id : ids) {
                  barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                  versions.add(node.keys().admin().rotateKek(id).version());
                }
                return versions;
              });
      for (int k = 0; k < KEKS; k++) {
        int kk = k;
        int first = 2 + round * NODES;
        assertThat(rotated.stream().map(perNode -> perNode.get(kk)).toList())
            .as("versions made by the round-%s rotations of %s", round, ids.get(k))
            .containsExactlyInAnyOrder(first, first + 1, first + 2, first + 3);
      }
      for (Node node : nodes) {
        for (String id : ids) {
          sealed.add(Sealed.generate(node, id, KeyContext.of("round", round + "/" + node)));
        }
      }
    }

    int primary = 1 + rounds * NODES;
    for (String id : ids) {
      KeyEncryptionKey newest = nodes.get(0).keys().admin().describeKek(id).orElseThrow();
      assertThat(newest.version()).as("primary of %s", id).isEqualTo(primary);
      for (Node node : nodes) {
        assertThat(node.keys().admin().describeKek(id))
            .as("primary of %s on %s", id, node)
            .contains(newest);
        List<KeyEncryptionKey> history = node.store().versions(id);
        assertThat(history).extracting(KeyEncryptionKey::version).hasSize(primary);
        for (int v = 1; v <= primary; v++) {
          assertThat(history.get(v - 1).version()).isEqualTo(v);
          assertThat(history.get(v - 1).state()).isEqualTo(KekState.ENABLED);
        }
      }
    }
    for (Node node : nodes) {
      for (Sealed s : sealed) {
        s.assertUnwrapsOn(node);
      }
    }
  }

  /**
   * The consistency bound: a rotation made on one node is used for new DEKs on that node at once,
   * and on every other node as soon as the hard TTL has passed since that node last read the
   * primary version. The test clock is advanced to just before and just after the bound.
   */
  @Test
  void aRotationOnOneNodeReachesEveryOtherNodeWithinTheHardTtl() throws Exception {
    nodes.get(0).keys().admin().createKek("bound", CMK);
    // Every node reads the primary (v1) now, at t0, and caches it.
    for (Node node : nodes) {
      assertThat(Sealed.generate(node, "bound", KeyContext.of("t", "0")).wrapped().kek().version())
          .isEqualTo(1);
    }
    clock.advance(Duration.ofMinutes(1));

    assertThat(nodes.get(0).keys().admin().rotateKek("bound").version()).isEqualTo(2);

    assertThat(Sealed.generate(nodes.get(0), "bound", KeyContext.of("t", "1")).wrapped().kek())
        .as("the rotating node")
        .extracting(ref -> ref.version())
        .isEqualTo(2);
    clock.advance(HARD_TTL.minus(Duration.ofMinutes(1)).minusNanos(1)); // t0 + hard TTL - 1 ns
    for (Node node : nodes.subList(1, NODES)) {
      // Still inside the bound: the old primary is allowed (and still enabled and unwrappable).
      assertThat(Sealed.generate(node, "bound", KeyContext.of("t", "2")).wrapped().kek().version())
          .as("%s before the bound", node)
          .isIn(1, 2);
    }
    clock.advance(Duration.ofNanos(1)); // t0 + hard TTL
    List<Sealed> after = new ArrayList<>();
    for (Node node : nodes) {
      Sealed s = Sealed.generate(node, "bound", KeyContext.of("t", "3"));
      assertThat(s.wrapped().kek().version()).as("%s at the bound", node).isEqualTo(2);
      after.add(s);
    }
    for (Node node : nodes) {
      for (Sealed s : after) {
        s.assertUnwrapsOn(node);
      }
    }
  }

  /** Nodes read a record through their own stores, then all compare-and-set it: no lost update. */
  @Test
  void racingStateChangesFromEveryNodeLoseNoUpdate() throws Exception {
    nodes.get(0).keys().admin().createKek("shared", CMK);
    int rounds = 40;

    List<List<Object>> wins =
        onEveryNode(
            (node, barrier) -> {
              List<Object> won = new ArrayList<>();
              for (int round = 0; round < rounds; round++) {
                KeyEncryptionKey read = node.store().find("shared", 1).orElseThrow();
                barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                KeyEncryptionKey mine =
                    read.toBuilder()
                        .revision(read.revision() + 1)
                        .state(node.index() % 2 == 0 ? KekState.ENABLED : KekState.DISABLED)
                        .updatedAt(read.updatedAt().plusNanos(node.index() + 1))
                        .build();
                won.add(node.store().compareAndSet(read.revision(), mine) ? mine : LOST);
                barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
              }
              return won;
            });

    KeyEncryptionKey last = null;
    for (int round = 0; round < rounds; round++) {
      int r = round;
      List<Object> winners =
          wins.stream().map(w -> w.get(r)).filter(o -> o instanceof KeyEncryptionKey).toList();
      assertThat(winners).as("winners of round %s", round).hasSize(1);
      last = (KeyEncryptionKey) winners.get(0);
      assertThat(last.revision()).isEqualTo(round + 2L);
    }
    for (Node node : nodes) {
      assertThat(node.store().find("shared", 1)).contains(last);
    }
  }

  private List<Object> createAll(Node node, CyclicBarrier barrier, List<String> ids)
      throws Exception {
    List<Object> outcomes = new ArrayList<>();
    for (String id : ids) {
      barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
      try {
        outcomes.add(node.keys().admin().createKek(id, CMK));
      } catch (KekStateException e) {
        outcomes.add(e);
      }
    }
    return outcomes;
  }

  /**
   * A new KEK version as a rotation writes it: 32 random bytes wrapped by the CMK under the KMS
   * context that binds them to the KEK id and version (README, "Formats").
   */
  private KeyEncryptionKey newVersion(String id, int version) {
    byte[] kek = new byte[32];
    new SecureRandom().nextBytes(kek);
    try {
      byte[] wrapped =
          kms.wrapper(CMK)
              .orElseThrow()
              .wrap(
                  kek,
                  KeyContext.of(
                      Map.of(
                          "keymanager:kek-id",
                          id,
                          "keymanager:kek-version",
                          Integer.toString(version))));
      return KeyEncryptionKey.builder()
          .id(id)
          .version(version)
          .cmkUri(CMK)
          .wrappedMaterial(wrapped)
          .createdAt(clock.instant())
          .build();
    } finally {
      Arrays.fill(kek, (byte) 0);
    }
  }

  private static List<String> kekIds() {
    List<String> ids = new ArrayList<>();
    for (int k = 0; k < KEKS; k++) {
      ids.add("tenant-" + (char) ('a' + k));
    }
    return ids;
  }

  private interface NodeWork {
    List<Object> run(Node node, CyclicBarrier barrier) throws Exception;
  }

  /** Runs {@code work} on every node at once; the results in node order. */
  private List<List<Object>> onEveryNode(NodeWork work) throws Exception {
    CyclicBarrier barrier = new CyclicBarrier(NODES);
    List<Future<List<Object>>> futures = new ArrayList<>();
    for (Node node : nodes) {
      futures.add(executor.submit((Callable<List<Object>>) () -> work.run(node, barrier)));
    }
    List<List<Object>> results = new ArrayList<>();
    for (Future<List<Object>> f : futures) {
      results.add(f.get(TIMEOUT_SECONDS * 2, TimeUnit.SECONDS));
    }
    return results;
  }

  /** A DEK generated on one node: its wrapped form, context, and a copy of its bytes. */
  static final class Sealed {
    private final WrappedKey wrapped;
    private final KeyContext context;
    private final byte[] plaintext;

    private Sealed(WrappedKey wrapped, KeyContext context, byte[] plaintext) {
      this.wrapped = wrapped;
      this.context = context;
      this.plaintext = plaintext;
    }

    static Sealed generate(Node node, String kekId, KeyContext context) {
      try (DataKey dek = node.keys().generateDek(kekId, context)) {
        return new Sealed(dek.wrappedKey(), context, dek.use(byte[]::clone));
      }
    }

    WrappedKey wrapped() {
      return wrapped;
    }

    void assertUnwrapsOn(Node node) {
      try (DataKey dek = node.keys().unwrapDek(WrappedKey.decode(wrapped.encode()), context)) {
        boolean same = dek.use(bytes -> MessageDigest.isEqual(bytes, plaintext));
        assertThat(same).as("DEK under %s unwrapped on %s", wrapped.kek(), node).isTrue();
      }
    }
  }
}
