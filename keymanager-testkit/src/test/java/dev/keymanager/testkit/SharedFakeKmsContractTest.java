package dev.keymanager.testkit;

import dev.keymanager.spi.KmsProvider;
import java.net.URI;

/**
 * Runs the contract against one {@link FakeKms} shared by every test, as a vendor module with an
 * expensive client would: only the {@link KmsProviderContract#restore(URI)} hook keeps a revoked
 * CMK from failing the tests that follow.
 */
class SharedFakeKmsContractTest extends KmsProviderContract {
  private static final FakeKms SHARED = new FakeKms();

  @Override
  protected KmsProvider provider() {
    return SHARED;
  }

  @Override
  protected URI cmk() {
    return FakeKms.cmk("shared");
  }

  @Override
  protected URI otherCmk() {
    return FakeKms.cmk("shared-other");
  }

  @Override
  protected void revoke(URI cmk) {
    SHARED.denyAccess(cmk);
  }

  @Override
  protected void restore(URI cmk) {
    SHARED.allowAccess(cmk);
  }

  @Override
  protected void failNextCallTransiently() {
    SHARED.failNextCalls(1);
  }

  @Override
  protected URI malformedUri() {
    return URI.create("fake-kms://shared?version=2");
  }
}
