package dev.keymanager.cli;

import dev.keymanager.DataKey;
import dev.keymanager.KekDescription;
import dev.keymanager.KeyContext;
import dev.keymanager.WrappedKey;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code keymanager doctor}: can this node use its keys? A readiness probe: exit 0 only if every
 * check passed, else the exit code of the first failure's class.
 */
@Command(
    name = "doctor",
    mixinStandardHelpOptions = true,
    description = {
      "For each KEK (or --kek, or a --cmk URI): can this node unwrap it through the KMS (and wrap,"
          + " with --check-wrap), how long the KMS took, which provider answered, the cache"
          + " settings. Exits non-zero on any failure, so it can run as a readiness probe."
    })
final class DoctorCommand extends BaseCommand {
  private static final KeyContext PROBE = KeyContext.of("keymanager.doctor", "probe");

  @Option(names = "--kek", paramLabel = "KEK_ID", description = "Check only these KEKs.")
  List<String> keks = List.of();

  @Option(
      names = "--cmk",
      paramLabel = "URI",
      description = "Check a CMK directly: wrap a random probe and unwrap it (needs wrap rights).")
  List<String> cmks = List.of();

  @Option(
      names = "--check-wrap",
      description = "Also ask each KEK's CMK to wrap a random probe (needs wrap rights).")
  boolean checkWrap;

  @Override
  int run() {
    int exit = ExitCodes.OK;
    List<Object> checks = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    try (Session s = session()) {
      List<String> ids = keks.isEmpty() && cmks.isEmpty() ? s.keys().admin().listKeks() : keks;
      for (String id : ids) {
        Map<String, Object> c = checkKek(s, id);
        exit = merge(exit, c);
        checks.add(c);
        line(text, c);
      }
      for (String cmk : cmks) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("cmk", cmk);
        try {
          URI uri = KekCommands.cmk(cmk);
          c.put("provider", providerName(s, uri));
          probe(s, uri, c);
          c.put("result", "ok");
        } catch (RuntimeException e) {
          fail(c, e);
        }
        exit = merge(exit, c);
        checks.add(c);
        line(text, c);
      }
      Map<String, Object> cache = new LinkedHashMap<>();
      cache.put("hardTtl", s.settings().hardTtl().toString());
      cache.put("loadTimeout", s.settings().loadTimeout().toString());
      cache.put("providers", List.copyOf(s.schemes()));
      if (ids.isEmpty() && cmks.isEmpty()) {
        text.append("(no KEKs in the store)").append(System.lineSeparator());
      }
      text.append("cache: hard TTL ")
          .append(s.settings().hardTtl())
          .append(", load timeout ")
          .append(s.settings().loadTimeout())
          .append("; KMS schemes: ")
          .append(String.join(", ", s.schemes()));
      Map<String, Object> data = new LinkedHashMap<>();
      data.put("healthy", exit == ExitCodes.OK);
      data.put("checks", checks);
      data.put("cache", cache);
      print(data, text.toString());
    }
    return exit;
  }

  private static int merge(int exit, Map<String, Object> c) {
    Object code = c.get("exitCode");
    return exit == ExitCodes.OK && code instanceof Integer i ? i : exit;
  }

  private static void line(StringBuilder text, Map<String, Object> c) {
    Object target = c.containsKey("kek") ? "KEK " + c.get("kek") : "CMK " + c.get("cmk");
    text.append(String.format("%-7s %s", c.get("result").equals("ok") ? "OK" : "FAILED", target));
    for (String k : List.of("version", "cmk", "provider", "unwrapMillis", "wrapMillis")) {
      if (c.containsKey(k) && !(k.equals("cmk") && !c.containsKey("kek"))) {
        text.append("  ").append(k).append(' ').append(c.get(k));
      }
    }
    if (c.containsKey("error")) {
      text.append("  [").append(c.get("failure")).append("] ").append(c.get("error"));
    }
    text.append(System.lineSeparator());
  }

  private static void fail(Map<String, Object> c, RuntimeException e) {
    int code = ExitCodes.of(e);
    c.put("result", "failed");
    c.put("failure", ExitCodes.name(code));
    c.put("exitCode", code);
    c.put("error", ExitCodes.describe(e));
  }

  private Map<String, Object> checkKek(Session s, String id) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("kek", id);
    try {
      KekDescription d = KekCommands.describe(s.keys(), id);
      c.put("version", d.primaryVersion());
      c.put("state", d.state().name());
      c.put("cmk", d.cmkUri().toString());
      c.put("provider", providerName(s, d.cmkUri()));
      long kmsBefore = s.keys().stats().kmsCalls();
      long t0 = System.nanoTime();
      // A fresh key manager has nothing cached: this DEK costs one KMS unwrap of the KEK.
      try (DataKey dek = s.keys().generateDek(id, PROBE)) {
        c.put("unwrapMillis", millis(t0));
        WrappedKey w = dek.wrappedKey();
        try (DataKey back = s.keys().unwrapDek(w, PROBE)) {
          boolean same = dek.use(a -> back.use(b -> MessageDigest.isEqual(a, b)));
          if (!same) {
            throw new IllegalStateException("a DEK did not unwrap to itself under KEK " + id);
          }
        }
      }
      c.put("kmsCalls", s.keys().stats().kmsCalls() - kmsBefore);
      if (checkWrap) {
        probe(s, d.cmkUri(), c);
      }
      c.put("result", "ok");
    } catch (RuntimeException e) {
      fail(c, e);
    }
    return c;
  }

  private static String providerName(Session s, URI cmk) {
    return s.provider(cmk)
        .map(p -> p.scheme() + " (" + p.getClass().getName() + ")")
        .orElse("none for scheme " + cmk.getScheme());
  }

  /** Wraps a random probe with the CMK and unwraps it back, timing both KMS calls. */
  private static void probe(Session s, URI cmk, Map<String, Object> c) {
    KmsProvider p =
        s.provider(cmk)
            .orElseThrow(
                () ->
                    new dev.keymanager.KeyManagerConfigException(
                        "no KMS provider for "
                            + cmk.getScheme()
                            + "://; found: "
                            + String.join(", ", s.schemes())));
    Optional<KmsWrapper> wrapper = p.wrapper(cmk);
    if (wrapper.isEmpty()) {
      c.put("wrap", "not offered by the provider (unwrap-only)");
      return;
    }
    byte[] probe = new byte[32];
    new SecureRandom().nextBytes(probe);
    byte[] back = null;
    try {
      long t0 = System.nanoTime();
      byte[] wrapped = wrapper.get().wrap(probe, PROBE);
      c.put("wrapMillis", millis(t0));
      long t1 = System.nanoTime();
      back = p.unwrapper(cmk).unwrap(wrapped, PROBE);
      c.put("probeUnwrapMillis", millis(t1));
      if (!MessageDigest.isEqual(probe, back)) {
        throw new IllegalStateException("the KMS unwrapped the probe to other bytes: " + cmk);
      }
      c.put("wrap", "ok");
    } finally {
      Arrays.fill(probe, (byte) 0);
      if (back != null) {
        Arrays.fill(back, (byte) 0);
      }
    }
  }

  private static double millis(long t0) {
    return Math.round((System.nanoTime() - t0) / 10_000.0) / 100.0;
  }
}
