/**
 * The {@code pkcs11} provider: {@link dev.keymanager.kms.pkcs11.Pkcs11KmsProvider} wraps KEKs with
 * AES-GCM inside an HSM, over PKCS#11 through the JDK's SunPKCS11 provider. Add the module to the
 * class path and configure it with {@link dev.keymanager.kms.pkcs11.Pkcs11KmsProvider#builder()}, a
 * configuration file, or the {@code KEYMANAGER_PKCS11_CONFIG} environment variable.
 *
 * <p>No dependency beyond keymanager-api and the JDK. As in {@code dev.keymanager}, nothing is
 * {@code null} unless documented.
 */
package dev.keymanager.kms.pkcs11;
