package dev.keymanager.kms.pkcs11;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManagerConfigException;
import java.net.URI;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class Pkcs11UriTest {
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "pkcs11:token=engine;object=cmk-orders | engine | cmk-orders",
        "pkcs11:object=cmk-orders;token=engine | engine | cmk-orders",
        "pkcs11:token=engine;object=cmk-orders;type=secret-key | engine | cmk-orders",
        "PKCS11:token=engine;object=cmk-orders | engine | cmk-orders",
        "pkcs11:token=My%20HSM;object=a%3Bb%3Dc | My HSM | a;b=c",
        "pkcs11:token=caf%C3%A9;object=k | café | k",
      })
  void parsesTheTokenAndObjectLabelsOfAnRfc7512Uri(String uri, String token, String object) {
    assertThat(Pkcs11Uri.parse(URI.create(uri))).isEqualTo(new Pkcs11Uri(token, object));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "pkcs11:token=engine", // no object
        "pkcs11:object=k", // no token
        "pkcs11:token=;object=k",
        "pkcs11:token=engine;object=",
        "pkcs11:token=engine;object=k;pin-value=1234", // never a PIN in the URI
        "pkcs11:token=engine;object=k?pin-value=1234",
        "pkcs11:token=engine;object=k?pin-source=file:/run/pin",
        "pkcs11:token=engine;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so",
        "pkcs11:token=engine;object=k;slot-id=3",
        "pkcs11:token=engine;object=k;id=%01", // CKA_ID cannot be checked through SunPKCS11
        "pkcs11:token=engine;object=k;type=private",
        "pkcs11:token=engine;object=k;object=j",
        "pkcs11:token=engine;object=k#frag",
        "pkcs11:token=engine;;object=k",
        "pkcs11://engine/k", // not the RFC 7512 form
        "pkcs11:token=a-token-label-longer-than-32-bytes;object=k",
        "aws-kms:token=engine;object=k",
      })
  void rejectsWhatIsNotATokenAndObjectLabel(String uri) {
    assertThatThrownBy(() -> Pkcs11Uri.parse(URI.create(uri)))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("pkcs11")
        .hasMessageContaining("expected pkcs11:token=TOKEN-LABEL;object=KEY-LABEL")
        .hasMessageNotContaining("1234");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"pkcs11:token=e;object=k;pin-value=1234", "pkcs11:token=e?pin-value=1234"})
  void aPinInARejectedUriIsRedactedFromTheMessage(String uri) {
    assertThatThrownBy(() -> Pkcs11Uri.parse(URI.create(uri)))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("pin-value=REDACTED")
        .hasMessageNotContaining("1234");
  }
}
