package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The unwrap hit path on the system clock ({@link DekCipher#unwrapIfDerived}): a KEK cached and
 * current whose subkey for the salt is derived already is used with a cipher from that subkey's
 * pool and no reference count, the entry's nor the subkey's; an entry no longer current or a subkey
 * wiped under the operation hands the unwrap to the path that retains the entry, and a tampered
 * wrapped key fails there as it does on the slow path.
 */
class UnwrapHitPathTest {
  private static final URI CMK = FakeKms.cmk("hit-path");
  private static final KeyContext CONTEXT = KeyContext.of("table", "hit-path");

  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();
  private final KeyManager writer =
      KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
  private final KeyManager reader =
      KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
  private WrappedKey wrapped;
  private byte[] bytes;

  @AfterEach
  void close() {
    reader.close();
    writer.close();
  }

  /** A DEK wrapped by the writer, unwrapped once by the reader (which derives its subkey). */
  private CachedKek cachedEntry() {
    writer.admin().createKek("orders", CMK);
    try (DataKey dek = writer.generateDek("orders", CONTEXT)) {
      wrapped = dek.wrappedKey();
      bytes = dek.use(byte[]::clone);
    }
    assertThat(unwrapped()).isEqualTo(bytes);
    CachedKek entry = subkeyOf(reader).entry();
    assertThat(entry).isNotNull();
    assertThat(entry.isCurrent()).isTrue();
    return entry;
  }

  private byte[] unwrapped() {
    try (DataKey dek = reader.unwrapDek(wrapped, CONTEXT)) {
      return dek.use(byte[]::clone);
    }
  }

  /** The subkey an unwrap hit on {@code keys} finds for {@link #wrapped}, by its salt. */
  private CachedKek.Subkey subkeyOf(KeyManager keys) {
    CachedKek.Subkey subkey = foundBy(keys, wrapped);
    assertThat(subkey).isNotNull();
    return subkey;
  }

  private static CachedKek.Subkey foundBy(KeyManager keys, WrappedKey w) {
    return ((DefaultKeyManager) keys)
        .cache()
        .derivedSubkey(
            w.kek(),
            ApiBridge.wrappedKeys().encoding(w),
            ApiBridge.wrappedKeys().parametersOffset(w));
  }

  @Test
  void twoThreadsUnwrappingTakeNoCountOnTheEntryOrTheSubkey() throws Exception {
    CachedKek entry = cachedEntry();
    CachedKek.Subkey subkey = subkeyOf(reader);
    long hits = reader.stats().hits();
    TestThreads.start(
            2,
            () -> {
              for (int i = 0; i < 20_000; i++) {
                if (!Arrays.equals(unwrapped(), bytes)) {
                  throw new AssertionError("unwrap returned other bytes");
                }
              }
            })
        .join();
    assertThat(reader.stats().hits()).isEqualTo(hits + 40_000);
    assertThat(reader.stats().loads()).isEqualTo(1);
    // A count taken by a second thread grows a lease's stripes; neither lease saw one.
    assertThat(entry.isStriped()).isFalse();
    assertThat(subkey.isStriped()).isFalse();
    assertThat(subkeyOf(reader)).isSameAs(subkey); // no new derivation
  }

  @Test
  void anEntryNoLongerCurrentGoesToThePathThatRetainsIt() {
    CachedKek entry = cachedEntry();
    CachedKek.Subkey subkey = subkeyOf(reader);
    assertThat(DekCipher.unwrapIfDerived(subkey, wrapped, CONTEXT)).isEqualTo(bytes);
    entry.markStale(); // as the expiry timer does near the refresh time or the hard TTL
    assertThat(DekCipher.unwrapIfDerived(subkey, wrapped, CONTEXT)).isNull();
    assertThat(unwrapped()).isEqualTo(bytes); // the entry is retained and used: not expired yet
  }

  @Test
  void aSubkeyWipedUnderTheOperationIsNotReportedAsTampering() {
    cachedEntry();
    CachedKek.Subkey subkey = subkeyOf(reader);
    // The subkey's bytes overwritten while it is still live would be a wrong key: authentication
    // fails, and since the subkey has not ended that is reported (it cannot happen: the bytes are
    // only overwritten once the subkey has ended).
    subkey.wipeKey();
    assertThatThrownBy(() -> DekCipher.unwrapIfDerived(subkey, wrapped, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class);
    // Once it has ended (its wipe sets that before it overwrites anything), the hit path hands the
    // unwrap on instead, whether it sees the end before keying the cipher or after a failure.
    subkey.drop();
    assertThat(subkey.isEnded()).isTrue();
    assertThat(DekCipher.unwrapIfDerived(subkey, wrapped, CONTEXT)).isNull();
  }

  @Test
  void aTamperedWrappedKeyFailsOnTheHitPathAndCountsAsAHit() {
    cachedEntry();
    long hits = reader.stats().hits();
    assertThatThrownBy(() -> reader.unwrapDek(wrapped, KeyContext.of("table", "other")))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("failed authentication");
    assertThat(reader.stats().hits()).isEqualTo(hits + 1);
    assertThat(unwrapped()).isEqualTo(bytes);
  }

  @Test
  void aWriterFindsItsOwnWrapSubkeyByItsSaltAndDerivesNothingToReadWhatItWrote() {
    cachedEntry();
    SubkeyCache subkeys = ((DefaultKeyManager) writer).cache().subkeys();
    long derived = subkeys.derivations();
    CachedKek.Subkey own = subkeyOf(writer);
    assertThat(own).isInstanceOf(CachedKek.WrapSubkey.class);
    long hits = writer.stats().hits();
    try (DataKey dek = writer.unwrapDek(wrapped, CONTEXT)) {
      assertThat(dek.use(byte[]::clone)).isEqualTo(bytes);
    }
    assertThat(writer.stats().hits()).isEqualTo(hits + 1);
    assertThat(subkeys.derivations()).isEqualTo(derived);
  }

  @Test
  void aSaltCopiedUnderAnotherKeksNameFindsNoSubkeyAndFailsAsTampering() {
    cachedEntry();
    writer.admin().createKek("invoices", CMK);
    try (DataKey other = writer.generateDek("invoices", CONTEXT)) {
      assertThat(unwrappedBy(other.wrappedKey())).hasSize(bytes.length); // cached by the reader
      // The orders DEK's salt, nonce and ciphertext under the invoices KEK's header.
      byte[] header = headerOf(other.wrappedKey());
      byte[] body = afterHeaderOf(wrapped);
      byte[] forged = Arrays.copyOf(header, header.length + body.length);
      System.arraycopy(body, 0, forged, header.length, body.length);
      WrappedKey copied = WrappedKey.decode(forged);
      assertThat(copied.kek()).isEqualTo(other.wrappedKey().kek());

      assertThat(foundBy(reader, copied)).as("orders' subkey, not invoices'").isNull();
      assertThatThrownBy(() -> reader.unwrapDek(copied, CONTEXT))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("failed authentication");
    }
    assertThat(unwrapped()).isEqualTo(bytes); // the genuine one still opens, on the hit path
    assertThat(subkeyOf(reader).isOf(wrapped.kek())).isTrue();
  }

  private byte[] unwrappedBy(WrappedKey w) {
    try (DataKey dek = reader.unwrapDek(w, CONTEXT)) {
      return dek.use(byte[]::clone);
    }
  }

  private static byte[] headerOf(WrappedKey w) {
    return Arrays.copyOf(w.encode(), ApiBridge.wrappedKeys().parametersOffset(w));
  }

  private static byte[] afterHeaderOf(WrappedKey w) {
    byte[] encoded = w.encode();
    return Arrays.copyOfRange(encoded, ApiBridge.wrappedKeys().parametersOffset(w), encoded.length);
  }
}
