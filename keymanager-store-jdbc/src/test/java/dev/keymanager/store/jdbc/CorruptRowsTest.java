package dev.keymanager.store.jdbc;

import static dev.keymanager.store.jdbc.EmbeddedPostgresExtension.server;
import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * One corrupt row among 100 KEKs blocks nothing else. The id column is always readable, so the
 * listing shows all 100; {@code destroyDueKeks} destroys every due KEK among the 99 readable ones
 * and reports the corrupt one (a warning and {@code unreadableRecords}).
 */
@ExtendWith(EmbeddedPostgresExtension.class)
class CorruptRowsTest {
  private static final URI CMK = FakeKms.cmk("corrupt-rows");
  private static final Duration WINDOW = Duration.ofDays(7);

  private final MutableClock clock = new MutableClock();
  private HikariDataSource pool;
  private JdbcKekStore store;
  private KeyManager keys;
  private TableNames names;

  @BeforeEach
  void open() {
    String schema = server().newSchema();
    names = new TableNames(schema, JdbcKekStore.Builder.DEFAULT_TABLE);
    pool = server().pool("corrupt-rows", 2, config -> {});
    store = JdbcKekStore.builder().dataSource(pool).schema(schema).build();
    keys =
        KeyManagers.builder()
            .kekStore(store)
            .kmsProvider(new FakeKms())
            .discoverProviders(false)
            .clock(clock)
            .build();
  }

  @AfterEach
  void close() {
    keys.close();
    store.close();
    pool.close();
  }

  private static String id(int i) {
    return String.format("tenant-%03d", i);
  }

  @Test
  void oneCorruptRowAmongAHundredBlocksNoListingAndNoDestruction() throws Exception {
    List<String> due = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      keys.admin().createKek(id(i), CMK);
      if (i % 10 == 3) {
        keys.admin().scheduleKekDestruction(id(i), WINDOW);
        due.add(id(i));
      }
    }
    String corrupt = id(43);
    try (Connection c = server().connect();
        PreparedStatement s =
            c.prepareStatement(
                "UPDATE "
                    + names.qualifiedTable()
                    + " SET cmk_uri = 'not a uri' WHERE kek_id = ?")) {
      s.setString(1, corrupt);
      assertThat(s.executeUpdate()).isEqualTo(1);
    }
    assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> store.find(corrupt, 1)))
        .isInstanceOf(KekStoreException.class);

    assertThat(keys.admin().listKeks())
        .containsExactlyElementsOf(IntStream.range(0, 100).mapToObj(CorruptRowsTest::id).toList());

    clock.advance(WINDOW);
    List<String> destroyed = keys.admin().destroyDueKeks();

    List<String> dueReadable = due.stream().filter(id -> !id.equals(corrupt)).toList();
    assertThat(destroyed).hasSize(9).containsExactlyInAnyOrderElementsOf(dueReadable);
    assertThat(keys.stats().unreadableRecords()).isEqualTo(1);
    for (String id : dueReadable) {
      assertThat(keys.admin().describeKekVersions(id).orElseThrow().state())
          .isEqualTo(KekState.DESTROYED);
    }
  }
}
