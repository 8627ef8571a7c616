package dev.keymanager.bench;

import dev.keymanager.DataKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.management.ObjectName;

/**
 * Heap per cached KEK, from class histograms of live objects (what {@code jcmd <pid>
 * GC.class_histogram} prints, taken in-process through the {@code DiagnosticCommand} MBean, which
 * runs a full GC first): one histogram with the reader's cache empty, one after it unwrapped one
 * DEK under each of {@code N} KEKs, one after it also unwrapped a DEK of a second writer (another
 * salt) under each, one after it also wrapped a DEK under each. The differences divided by {@code
 * N} are the bytes a cached KEK costs used for unwrap only, what a second salt adds, and the cost
 * used for wrap and unwrap; a last histogram after a second thread unwrapped and wrapped under each
 * (after the first, not at the same moment) gives what keys shared by several threads add. The
 * classes that grew most are printed beside them.
 *
 * <pre>{@code
 * ./mvnw -q -pl keymanager-bench -am -DskipTests package
 * java -cp keymanager-bench/target/benchmarks.jar dev.keymanager.bench.HeapPerKek 10000
 * }</pre>
 */
public final class HeapPerKek {
  private HeapPerKek() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
    try (Fixture fixture = new Fixture(n, Duration.ofHours(1));
        KeyManager reader =
            KeyManagers.builder()
                .kekStore(fixture.store)
                .kmsProvider(fixture.kms)
                .discoverProviders(false)
                .hardTtl(Duration.ofHours(1))
                .maximumCachedKeks(n)
                .maximumCachedSubkeys(2L * n)
                .build()) {
      List<WrappedKey> wrapped = new ArrayList<>(n);
      List<WrappedKey> secondSalt = new ArrayList<>(n);
      try (KeyManager second =
          KeyManagers.builder()
              .kekStore(fixture.store)
              .kmsProvider(fixture.kms)
              .discoverProviders(false)
              .maximumCachedKeks(n)
              .build()) {
        for (int i = 0; i < n; i++) {
          wrapped.add(fixture.wrapNewDek(i));
          try (DataKey dek = second.generateDek(Fixture.kekId(i), Fixture.CONTEXT)) {
            secondSalt.add(dek.wrappedKey());
          }
        }
      }
      Map<String, long[]> empty = histogram();

      for (WrappedKey w : wrapped) {
        try (DataKey dek = reader.unwrapDek(w, Fixture.CONTEXT)) {
          dek.length();
        }
      }
      Map<String, long[]> unwrapped = histogram();
      for (WrappedKey w : secondSalt) {
        try (DataKey dek = reader.unwrapDek(w, Fixture.CONTEXT)) {
          dek.length();
        }
      }
      Map<String, long[]> twoSalts = histogram();
      for (int i = 0; i < n; i++) {
        try (DataKey dek = reader.generateDek(Fixture.kekId(i), Fixture.CONTEXT)) {
          dek.length();
        }
      }
      Map<String, long[]> both = histogram();
      // The same KEKs used by a second thread, after the first (never at the same moment): what
      // the padded counters and cipher slots of keys shared by a pool of threads add.
      Thread other =
          new Thread(
              () -> {
                for (int i = 0; i < n; i++) {
                  try (DataKey dek = reader.unwrapDek(wrapped.get(i), Fixture.CONTEXT)) {
                    dek.length();
                  }
                  try (DataKey dek = reader.generateDek(Fixture.kekId(i), Fixture.CONTEXT)) {
                    dek.length();
                  }
                }
              });
      other.start();
      other.join();
      Map<String, long[]> shared = histogram();
      if (reader.stats().misses() != n || reader.stats().evictions() != 0) {
        throw new IllegalStateException("expected " + n + " cached KEKs: " + reader.stats());
      }
      report("unwrap only", empty, unwrapped, n);
      report("a second salt (unwrap subkey) per KEK", unwrapped, twoSalts, n);
      report("wrap + unwrap (and the second salt)", empty, both, n);
      report("wrap added", twoSalts, both, n);
      report("a second thread using the KEK (wrap and one salt), one at a time", both, shared, n);
    }
  }

  private static void report(
      String what, Map<String, long[]> before, Map<String, long[]> after, int n) {
    long total = after.get("Total")[1] - before.get("Total")[1];
    System.out.printf(
        "%s: %,d KEKs, %,d bytes per cached KEK (%.2f KiB)%n",
        what, n, total / n, total / 1024.0 / n);
    List<Map.Entry<String, long[]>> grown = new ArrayList<>();
    for (Map.Entry<String, long[]> e : after.entrySet()) {
      if (e.getKey().equals("Total")) {
        continue;
      }
      long[] b = before.getOrDefault(e.getKey(), new long[2]);
      grown.add(Map.entry(e.getKey(), new long[] {e.getValue()[0] - b[0], e.getValue()[1] - b[1]}));
    }
    grown.sort((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]));
    for (Map.Entry<String, long[]> e : grown.subList(0, Math.min(16, grown.size()))) {
      System.out.printf(
          "  %8.2f objects %8.1f bytes  %s%n",
          e.getValue()[0] / (double) n, e.getValue()[1] / (double) n, e.getKey());
    }
  }

  /** Class name to {instances, bytes}, plus "Total", from a live-object class histogram. */
  static Map<String, long[]> histogram() throws Exception {
    ObjectName name = new ObjectName("com.sun.management:type=DiagnosticCommand");
    String text =
        (String)
            ManagementFactory.getPlatformMBeanServer()
                .invoke(
                    name,
                    "gcClassHistogram",
                    new Object[] {new String[0]},
                    new String[] {String[].class.getName()});
    Map<String, long[]> byClass = new HashMap<>();
    for (String line : text.split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length >= 4 && f[0].endsWith(":")) {
        byClass.put(f[3], new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
      } else if (f.length == 3 && f[0].equals("Total")) {
        byClass.put("Total", new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
      }
    }
    if (!byClass.containsKey("Total")) {
      throw new IllegalStateException("no Total line in the class histogram");
    }
    return byClass;
  }
}
