package dev.keymanager.kms.pkcs11;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;

/**
 * The test kit's conformance suite on a real SoftHSM 2 token, with one provider shared by every
 * test, as a user would hold one, and CMKs generated through the provider.
 */
class Pkcs11KmsProviderContractTest extends KmsProviderContract {
  static final Pkcs11KmsProvider PROVIDER =
      SoftHsm.builder().maxSessions(2).sessionTimeout(Duration.ofMillis(200)).build();
  static final URI CMK = SoftHsm.cmk("contract-cmk");
  static final URI OTHER_CMK = SoftHsm.cmk("contract-other");

  static {
    PROVIDER.generateKey(CMK);
    PROVIDER.generateKey(OTHER_CMK);
  }

  @AfterAll
  static void closeProvider() {
    PROVIDER.close();
  }

  @Override
  protected KmsProvider provider() {
    return PROVIDER;
  }

  @Override
  protected URI cmk() {
    return CMK;
  }

  @Override
  protected URI otherCmk() {
    return OTHER_CMK;
  }

  /** As an operator would: destroy the key object on the token. */
  @Override
  protected void revoke(URI cmk) {
    SoftHsm.deleteObject("contract-cmk");
  }

  /** A new key object under the same label (earlier blobs stay unreadable, as they should). */
  @Override
  protected void restore(URI cmk) {
    PROVIDER.generateKey(CMK);
  }

  /**
   * Every session of the pool is taken (as by stuck HSM calls), so the next call times out waiting
   * for one; the sessions come back as soon as it has.
   */
  @Override
  protected void failNextCallTransiently() {
    Pkcs11Token token = PROVIDER.token(SoftHsm.MAIN);
    int held = token.occupyAllSessions();
    token.afterSessionWaitTimedOut =
        () -> {
          token.afterSessionWaitTimedOut = () -> {};
          token.releaseSessions(held);
        };
  }

  @Override
  protected URI malformedUri() {
    return URI.create(CMK + ";pin-value=" + SoftHsm.PIN);
  }
}
