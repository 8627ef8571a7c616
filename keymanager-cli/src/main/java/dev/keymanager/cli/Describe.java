package dev.keymanager.cli;

import dev.keymanager.KekDescription;
import dev.keymanager.KeyEncryptionKey;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** KEK records as printable data: metadata and lengths, never material. */
final class Describe {
  private Describe() {}

  static Map<String, Object> kek(KekDescription d) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", d.id());
    m.put("state", d.state().name());
    m.put("primaryVersion", d.primaryVersion());
    m.put("minimumDecryptionVersion", d.minimumDecryptionVersion());
    m.put("cmk", d.cmkUri().toString());
    m.put("destroyAt", d.destroyAt().map(Object::toString).orElse(null));
    List<Object> versions = new ArrayList<>();
    for (KeyEncryptionKey k : d.versions()) {
      versions.add(version(k));
    }
    m.put("versions", versions);
    return m;
  }

  static Map<String, Object> version(KeyEncryptionKey k) {
    Map<String, Object> v = new LinkedHashMap<>();
    v.put("version", k.version());
    v.put("state", k.state().name());
    v.put("cmk", k.cmkUri().toString());
    v.put("createdAt", k.createdAt().toString());
    v.put("updatedAt", k.updatedAt().toString());
    v.put("destroyAt", k.destroyAt().map(Object::toString).orElse(null));
    v.put("wrappedLength", k.wrappedMaterial().length);
    v.put("revision", k.revision());
    return v;
  }

  static String kekText(KekDescription d) {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            "KEK %s: %s, primary v%d, minimum decryption v%d, cmk %s%s",
            d.id(),
            d.state(),
            d.primaryVersion(),
            d.minimumDecryptionVersion(),
            d.cmkUri(),
            d.destroyAt().map(t -> ", destroy at " + t).orElse("")));
    for (KeyEncryptionKey k : d.versions()) {
      b.append(System.lineSeparator())
          .append(
              String.format(
                  "  v%-4d %-20s created %s  cmk %s  wrapped %d bytes  revision %d%s",
                  k.version(),
                  k.state(),
                  k.createdAt(),
                  k.cmkUri(),
                  k.wrappedMaterial().length,
                  k.revision(),
                  k.destroyAt().map(t -> "  destroy at " + t).orElse("")));
    }
    return b.toString();
  }
}
