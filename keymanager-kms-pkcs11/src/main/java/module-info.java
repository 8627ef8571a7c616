/**
 * The {@code pkcs11} KMS provider: {@link dev.keymanager.kms.pkcs11.Pkcs11KmsProvider}, CMKs held
 * as non-extractable AES keys in an HSM, used through the JDK's SunPKCS11 provider.
 */
module dev.keymanager.kms.pkcs11 {
  requires transitive dev.keymanager.api;
  // SunPKCS11 is looked up by name (Security.getProvider); requiring its module keeps it in any
  // jlink image that holds this one.
  requires jdk.crypto.cryptoki;

  exports dev.keymanager.kms.pkcs11;

  provides dev.keymanager.spi.KmsProvider with
      dev.keymanager.kms.pkcs11.Pkcs11KmsProvider;
}
