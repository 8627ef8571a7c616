package dev.keymanager.store.jdbc;

import dev.keymanager.KekState;
import dev.keymanager.KeyEncryptionKey;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/** Records for the failure and schema tests. */
final class TestRecords {
  static final URI CMK = URI.create("fake-kms://jdbc-tests");
  static final Instant T0 = Instant.parse("2026-01-02T03:04:05.123456789Z");

  private TestRecords() {}

  static KeyEncryptionKey record(String id, int version) {
    return KeyEncryptionKey.builder()
        .id(id)
        .version(version)
        .cmkUri(CMK)
        .wrappedMaterial(material(id + "/" + version))
        .createdAt(T0)
        .build();
  }

  /** The next revision of {@code r}, disabled or enabled in turn. */
  static KeyEncryptionKey next(KeyEncryptionKey r) {
    return r.toBuilder()
        .revision(r.revision() + 1)
        .state(r.state() == KekState.ENABLED ? KekState.DISABLED : KekState.ENABLED)
        .updatedAt(r.updatedAt().plusSeconds(1).plusNanos(1))
        .build();
  }

  /** Recognisable bytes, so tests can search messages for them. */
  static byte[] material(String seed) {
    return ("WRAPPED-MATERIAL-" + seed + "-0123456789abcdef").getBytes(StandardCharsets.UTF_8);
  }
}
