package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.testkit.FakeKms;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Issue 14, proof 5: a wrapped key with any bytes altered, the KEK id and version fields included,
 * raises only {@link InvalidCiphertextException} from {@code decode} or {@code unwrapDek}, never a
 * state error that an engine would read as a missing key. {@value #DEFAULT_INPUTS} seeded inputs in
 * the normal build; {@code -Pfuzz} runs 1,000,000 (property {@code keymanager.fuzz.wrapped-inputs};
 * {@code keymanager.fuzz.seed} replays a run).
 */
class WrappedKeyMutationTest {
  static final int DEFAULT_INPUTS = 10_000;

  private static final long SEED = Long.getLong("keymanager.fuzz.seed", new Random().nextLong());
  private static final int COUNT =
      Integer.getInteger("keymanager.fuzz.wrapped-inputs", DEFAULT_INPUTS);
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  @Test
  void mutatedWrappedKeysOnlyEverRaiseInvalidCiphertext() {
    FakeKms kms = new FakeKms();
    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(kms)
            .discoverProviders(false)
            .build()) {
      keys.admin().createKek("orders", FakeKms.cmk("mutations"));
      keys.admin().createKek("orderz", FakeKms.cmk("mutations")); // a neighbour one bit away
      keys.admin().rotateKek("orders");
      byte[] original;
      try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
        original = dek.wrappedKey().encode();
      }
      WrappedKey parsed = WrappedKey.decode(original);
      int idStart = 5;
      int fieldsEnd =
          ApiBridge.wrappedKeys().parametersOffset(parsed); // id, then the 4-byte version
      Random random = new Random(SEED);
      int decodeRejected = 0;
      int unwrapRejected = 0;
      int namedMissing = 0;
      long started = System.nanoTime();
      for (int i = 0; i < COUNT; i++) {
        byte[] input = original.clone();
        int flips = 1 + random.nextInt(3);
        for (int f = 0; f < flips; f++) {
          // Half the flips land in the KEK id and version fields.
          int at =
              random.nextBoolean()
                  ? idStart + random.nextInt(fieldsEnd - idStart)
                  : random.nextInt(input.length);
          input[at] ^= (byte) (1 << random.nextInt(8));
        }
        if (java.util.Arrays.equals(input, original)) {
          input[input.length - 1] ^= 1; // flips that cancelled out: alter the tag instead
        }
        try {
          WrappedKey w;
          try {
            w = WrappedKey.decode(input);
          } catch (InvalidCiphertextException e) {
            decodeRejected++;
            continue;
          }
          try (DataKey dek = keys.unwrapDek(w, CONTEXT)) {
            throw new AssertionError(
                "altered wrapped key unwrapped: " + HexFormat.of().formatHex(input));
          } catch (InvalidCiphertextException e) {
            unwrapRejected++;
            if (e.getMessage().contains("this store does not have")) {
              namedMissing++;
            }
          }
        } catch (RuntimeException e) {
          throw new AssertionError(
              "input "
                  + i
                  + " (seed "
                  + SEED
                  + ") raised "
                  + e
                  + ": "
                  + HexFormat.of().formatHex(input),
              e);
        }
      }
      System.out.printf(
          "wrapped-key mutations: %,d inputs (seed %d) in %d ms: %,d refused by decode, %,d by"
              + " unwrapDek (%,d naming a KEK or version this store does not have)%n",
          COUNT,
          SEED,
          (System.nanoTime() - started) / 1_000_000,
          decodeRejected,
          unwrapRejected,
          namedMissing);
      assertThat(decodeRejected + unwrapRejected).isEqualTo(COUNT);
      assertThat(namedMissing).as("id and version flips reach the store lookup").isPositive();
    }
  }
}
