package dev.keymanager.kms.gcp;

import com.google.api.gax.core.NoCredentialsProvider;
import com.google.api.gax.grpc.GrpcTransportChannel;
import com.google.api.gax.rpc.FixedTransportChannelProvider;
import com.google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState;
import com.google.cloud.kms.v1.DecryptRequest;
import com.google.cloud.kms.v1.DecryptResponse;
import com.google.cloud.kms.v1.EncryptRequest;
import com.google.cloud.kms.v1.EncryptResponse;
import com.google.cloud.kms.v1.KeyManagementServiceSettings;
import com.google.cloud.kms.v1.ProtectionLevel;
import com.google.protobuf.ByteString;
import com.google.protobuf.Int64Value;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.zip.CRC32C;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * A Cloud KMS {@code KeyManagementService} (Encrypt and Decrypt only) served over real gRPC, in
 * process or on 127.0.0.1, for the real {@code KeyManagementServiceClient} to talk to.
 *
 * <p>Faithful where the provider depends on it: CryptoKeys with versions (a primary, states ENABLED
 * / DISABLED / DESTROYED), one random AES-256-GCM key per version, the AAD authenticated, the
 * ciphertext naming its version, every {@code *_crc32c} request field checked and answered, and the
 * error statuses and messages Cloud KMS gives. On top: denied keys, injected statuses, calls that
 * never answer, corrupted responses or requests, and per-method call counts.
 *
 * <p>Ciphertext layout (ours; Cloud KMS's is opaque too): 4-byte version number, 12-byte nonce,
 * AES-GCM ciphertext and tag over the plaintext with AAD = the first 16 bytes + the request's AAD.
 *
 * <p>Thread-safe. For tests only: the keys live in memory and protect nothing.
 */
final class FakeCloudKms implements AutoCloseable {
  static final String SERVICE = "google.cloud.kms.v1.KeyManagementService";
  private static final String DECRYPTION_FAILED =
      "Decryption failed: verify that 'name' refers to the correct CryptoKey.";
  private static final int MAX_PAYLOAD = 64 * 1024;
  private static final SecureRandom RANDOM = new SecureRandom();

  /** How to spoil the next response. */
  enum Corruption {
    /** Encrypt: one ciphertext bit flipped after its CRC32C was computed. */
    CIPHERTEXT_BIT_FLIPPED,
    /** Encrypt: no ciphertext_crc32c in the response. */
    CIPHERTEXT_CRC_MISSING,
    /** Encrypt: verified_plaintext_crc32c false, as if the server never saw the field. */
    PLAINTEXT_NOT_VERIFIED,
    /** Encrypt: verified_additional_authenticated_data_crc32c false. */
    AAD_NOT_VERIFIED,
    /** Encrypt: the response names a version of another CryptoKey. */
    OTHER_KEY_NAMED,
    /** Decrypt: one plaintext bit flipped after its CRC32C was computed. */
    PLAINTEXT_BIT_FLIPPED,
    /** Decrypt: no plaintext_crc32c in the response. */
    PLAINTEXT_CRC_MISSING,
    /** Either: one bit of the received payload flipped before the server checks its CRC32C. */
    REQUEST_BIT_FLIPPED
  }

  private final Map<String, CryptoKey> keys = new ConcurrentHashMap<>();
  private final Set<String> denied = ConcurrentHashMap.newKeySet();
  private final Deque<Function<String, Status>> faults = new ArrayDeque<>(); // guarded by itself
  private volatile Corruption corruption;
  private final AtomicInteger encryptCalls = new AtomicInteger();
  private final AtomicInteger decryptCalls = new AtomicInteger();
  private final List<EncryptRequest> encryptRequests = new ArrayList<>(); // guarded by itself
  private final List<DecryptRequest> decryptRequests = new ArrayList<>(); // guarded by itself

  private final Server server;
  private final ManagedChannel channel; // null on loopback: the client opens its own

  private FakeCloudKms(boolean loopback) {
    try {
      if (loopback) {
        server =
            NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(service())
                .build()
                .start();
        channel = null;
      } else {
        String name = "fake-cloud-kms-" + UUID.randomUUID();
        server =
            InProcessServerBuilder.forName(name)
                .directExecutor()
                .addService(service())
                .build()
                .start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A server in this JVM, reached through an in-process channel. */
  static FakeCloudKms inProcess() {
    return new FakeCloudKms(false);
  }

  /** A server on 127.0.0.1, an ephemeral port, plaintext HTTP/2. */
  static FakeCloudKms onLoopback() {
    return new FakeCloudKms(true);
  }

  /**
   * A provider builder pointed at this server with no credentials and test-speed retries: 3
   * attempts, 1-5 ms backoff. Deadlines are generous (20 s per attempt, 60 s in all) because they
   * only bite on a hung call, and the first Netty connection of a JVM took up to 9 s on a loaded
   * 2-core build machine; tests of deadlines set their own short ones.
   */
  GcpKmsProvider.Builder providerBuilder() {
    GcpKmsProvider.Builder b =
        GcpKmsProvider.builder()
            .credentials(NoCredentialsProvider.create())
            .maxAttempts(3)
            .initialRetryDelay(Duration.ofMillis(1))
            .maxRetryDelay(Duration.ofMillis(5))
            .attemptTimeout(Duration.ofSeconds(20))
            .totalTimeout(Duration.ofSeconds(60));
    if (channel != null) {
      return b.transportChannelProvider(
          FixedTransportChannelProvider.create(GrpcTransportChannel.create(channel)));
    }
    return b.endpoint("127.0.0.1:" + server.getPort())
        .transportChannelProvider(
            KeyManagementServiceSettings.defaultGrpcTransportProviderBuilder()
                .setChannelConfigurator(c -> c.usePlaintext())
                .build());
  }

  /** The in-process transport alone, for a provider built with other defaults. */
  com.google.api.gax.rpc.TransportChannelProvider providerBuilderTransport() {
    if (channel == null) {
      throw new IllegalStateException("only for the in-process server");
    }
    return FixedTransportChannelProvider.create(GrpcTransportChannel.create(channel));
  }

  /** The port on 127.0.0.1, for the loopback server. */
  int port() {
    return server.getPort();
  }

  // ---- keys -------------------------------------------------------------------------------

  /** Creates a CryptoKey with an enabled primary version 1 and returns its gcp-kms URI. */
  URI createKey(String project, String ring, String key) {
    String name =
        "projects/" + project + "/locations/global/keyRings/" + ring + "/cryptoKeys/" + key;
    CryptoKey k = new CryptoKey(name);
    if (keys.putIfAbsent(name, k) != null) {
      throw new IllegalStateException("exists: " + name);
    }
    k.addVersion();
    return URI.create("gcp-kms://" + name);
  }

  /** Adds an enabled version and makes it primary, as a rotation does; returns its number. */
  int rotate(URI key) {
    return cryptoKey(key).addVersion();
  }

  /** Sets the state of one version, as {@code gcloud kms keys versions disable/destroy} would. */
  void setState(URI key, int version, CryptoKeyVersionState state) {
    cryptoKey(key).version(version).state = state;
  }

  /** Answers PERMISSION_DENIED for the key from now on, as a removed IAM binding would. */
  void deny(URI key) {
    denied.add(resourceName(key));
  }

  /** Undoes {@link #deny(URI)}. */
  void allow(URI key) {
    denied.remove(resourceName(key));
  }

  // ---- faults -----------------------------------------------------------------------------

  /** The next {@code calls} calls (either method, each attempt counts) answer {@code status}. */
  void failNext(int calls, Status status) {
    synchronized (faults) {
      for (int i = 0; i < calls; i++) {
        faults.add(method -> status);
      }
    }
  }

  /** The next {@code calls} calls never answer; the client's deadline ends them. */
  void hangNext(int calls) {
    synchronized (faults) {
      for (int i = 0; i < calls; i++) {
        faults.add(method -> null);
      }
    }
  }

  /** Drops injected faults that no call has used yet. */
  void clearFaults() {
    synchronized (faults) {
      faults.clear();
    }
    corruption = null;
  }

  /** Spoils the next response (or request) as {@code how} says; one call only. */
  void corruptNext(Corruption how) {
    corruption = how;
  }

  /** The key version number a ciphertext of this fake names. */
  static int versionOf(byte[] ciphertext) {
    return ByteBuffer.wrap(ciphertext, 0, 4).getInt();
  }

  int encryptCalls() {
    return encryptCalls.get();
  }

  int decryptCalls() {
    return decryptCalls.get();
  }

  EncryptRequest lastEncryptRequest() {
    synchronized (encryptRequests) {
      return encryptRequests.get(encryptRequests.size() - 1);
    }
  }

  DecryptRequest lastDecryptRequest() {
    synchronized (decryptRequests) {
      return decryptRequests.get(decryptRequests.size() - 1);
    }
  }

  @Override
  public void close() {
    if (channel != null) {
      channel.shutdownNow();
    }
    server.shutdownNow();
    try {
      server.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ---- the service ------------------------------------------------------------------------

  private ServerServiceDefinition service() {
    MethodDescriptor<EncryptRequest, EncryptResponse> encrypt =
        MethodDescriptor.<EncryptRequest, EncryptResponse>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Encrypt"))
            .setRequestMarshaller(ProtoUtils.marshaller(EncryptRequest.getDefaultInstance()))
            .setResponseMarshaller(ProtoUtils.marshaller(EncryptResponse.getDefaultInstance()))
            .build();
    MethodDescriptor<DecryptRequest, DecryptResponse> decrypt =
        MethodDescriptor.<DecryptRequest, DecryptResponse>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Decrypt"))
            .setRequestMarshaller(ProtoUtils.marshaller(DecryptRequest.getDefaultInstance()))
            .setResponseMarshaller(ProtoUtils.marshaller(DecryptResponse.getDefaultInstance()))
            .build();
    return ServerServiceDefinition.builder(SERVICE)
        .addMethod(encrypt, ServerCalls.asyncUnaryCall(this::encrypt))
        .addMethod(decrypt, ServerCalls.asyncUnaryCall(this::decrypt))
        .build();
  }

  private void encrypt(EncryptRequest request, StreamObserver<EncryptResponse> out) {
    encryptCalls.incrementAndGet();
    synchronized (encryptRequests) {
      // A copy, as a remote server would hold: in process the request may share the client's
      // buffers, which the provider overwrites after the call.
      encryptRequests.add(request.toBuilder().setPlaintext(copy(request.getPlaintext())).build());
    }
    answer(out, "Encrypt", () -> doEncrypt(request));
  }

  private void decrypt(DecryptRequest request, StreamObserver<DecryptResponse> out) {
    decryptCalls.incrementAndGet();
    synchronized (decryptRequests) {
      decryptRequests.add(request);
    }
    answer(out, "Decrypt", () -> doDecrypt(request));
  }

  private interface Call<T> {
    T run() throws StatusRuntimeException;
  }

  private <T> void answer(StreamObserver<T> out, String method, Call<T> call) {
    Function<String, Status> fault;
    synchronized (faults) {
      fault = faults.poll();
    }
    if (fault != null) {
      Status status = fault.apply(method);
      if (status != null) {
        out.onError(status.asRuntimeException());
      }
      return; // null: hang, never answer
    }
    try {
      out.onNext(call.run());
      out.onCompleted();
    } catch (StatusRuntimeException e) {
      out.onError(e);
    }
  }

  private EncryptResponse doEncrypt(EncryptRequest request) {
    String name = request.getName();
    CryptoKey key;
    Version version;
    int slash = name.indexOf("/cryptoKeyVersions/");
    if (slash >= 0) {
      key = existing(name.substring(0, slash), "useToEncrypt");
      version =
          key.version(Integer.parseInt(name.substring(slash + "/cryptoKeyVersions/".length())));
    } else {
      key = existing(name, "useToEncrypt");
      version = key.primary();
    }
    byte[] plaintext = received(request.getPlaintext());
    byte[] aad = request.getAdditionalAuthenticatedData().toByteArray();
    if (plaintext.length > MAX_PAYLOAD || aad.length > MAX_PAYLOAD) {
      throw invalid("The plaintext or additional_authenticated_data is larger than 64 KiB.");
    }
    checkCrc(request.hasPlaintextCrc32C(), request.getPlaintextCrc32C(), plaintext, "plaintext");
    checkCrc(
        request.hasAdditionalAuthenticatedDataCrc32C(),
        request.getAdditionalAuthenticatedDataCrc32C(),
        aad,
        "additional_authenticated_data");
    requireEnabled(key, version);

    byte[] header = ByteBuffer.allocate(16).putInt(version.number).array();
    byte[] nonce = new byte[12];
    RANDOM.nextBytes(nonce);
    System.arraycopy(nonce, 0, header, 4, 12);
    byte[] sealed = gcm(Cipher.ENCRYPT_MODE, version, nonce, concat(header, aad), plaintext);
    byte[] ciphertext = concat(header, sealed);

    Corruption spoil = takeCorruption();
    EncryptResponse.Builder response =
        EncryptResponse.newBuilder()
            .setName(key.name + "/cryptoKeyVersions/" + version.number)
            .setCiphertext(ByteString.copyFrom(ciphertext))
            .setCiphertextCrc32C(crc32c(ciphertext))
            .setVerifiedPlaintextCrc32C(request.hasPlaintextCrc32C())
            .setVerifiedAdditionalAuthenticatedDataCrc32C(
                request.hasAdditionalAuthenticatedDataCrc32C())
            .setProtectionLevel(ProtectionLevel.SOFTWARE);
    if (spoil != null) {
      switch (spoil) {
        case CIPHERTEXT_BIT_FLIPPED -> {
          ciphertext[ciphertext.length - 1] ^= 0x01;
          response.setCiphertext(ByteString.copyFrom(ciphertext));
        }
        case CIPHERTEXT_CRC_MISSING -> response.clearCiphertextCrc32C();
        case PLAINTEXT_NOT_VERIFIED -> response.setVerifiedPlaintextCrc32C(false);
        case AAD_NOT_VERIFIED -> response.setVerifiedAdditionalAuthenticatedDataCrc32C(false);
        case OTHER_KEY_NAMED -> response.setName(key.name + "-other/cryptoKeyVersions/1");
        default -> throw new IllegalStateException(spoil + " does not apply to Encrypt");
      }
    }
    return response.build();
  }

  private DecryptResponse doDecrypt(DecryptRequest request) {
    String name = request.getName();
    if (name.contains("/cryptoKeyVersions/")) {
      throw invalid("Decrypt takes a CryptoKey name, not a CryptoKeyVersion: " + name);
    }
    CryptoKey key = existing(name, "useToDecrypt");
    byte[] ciphertext = received(request.getCiphertext());
    byte[] aad = request.getAdditionalAuthenticatedData().toByteArray();
    checkCrc(
        request.hasCiphertextCrc32C(), request.getCiphertextCrc32C(), ciphertext, "ciphertext");
    checkCrc(
        request.hasAdditionalAuthenticatedDataCrc32C(),
        request.getAdditionalAuthenticatedDataCrc32C(),
        aad,
        "additional_authenticated_data");
    if (ciphertext.length < 16 + 16) {
      throw invalid(DECRYPTION_FAILED);
    }
    byte[] header = Arrays.copyOf(ciphertext, 16);
    int number = ByteBuffer.wrap(header).getInt();
    Version version = key.findVersion(number);
    if (version == null) {
      throw invalid(DECRYPTION_FAILED);
    }
    requireEnabled(key, version);
    byte[] nonce = Arrays.copyOfRange(header, 4, 16);
    byte[] sealed = Arrays.copyOfRange(ciphertext, 16, ciphertext.length);
    byte[] plaintext = gcm(Cipher.DECRYPT_MODE, version, nonce, concat(header, aad), sealed);

    Corruption spoil = takeCorruption();
    DecryptResponse.Builder response =
        DecryptResponse.newBuilder()
            .setPlaintext(ByteString.copyFrom(plaintext))
            .setPlaintextCrc32C(crc32c(plaintext))
            .setUsedPrimary(version == key.primary())
            .setProtectionLevel(ProtectionLevel.SOFTWARE);
    if (spoil != null) {
      switch (spoil) {
        case PLAINTEXT_BIT_FLIPPED -> {
          plaintext[0] ^= 0x01;
          response.setPlaintext(ByteString.copyFrom(plaintext));
        }
        case PLAINTEXT_CRC_MISSING -> response.clearPlaintextCrc32C();
        default -> throw new IllegalStateException(spoil + " does not apply to Decrypt");
      }
    }
    return response.build();
  }

  /** The payload as received, with one bit flipped if a request corruption is pending. */
  private byte[] received(ByteString payload) {
    byte[] bytes = payload.toByteArray();
    if (corruption == Corruption.REQUEST_BIT_FLIPPED && bytes.length > 0) {
      corruption = null;
      bytes[bytes.length / 2] ^= 0x10;
    }
    return bytes;
  }

  private Corruption takeCorruption() {
    Corruption c = corruption;
    corruption = null;
    return c;
  }

  private CryptoKey existing(String name, String permission) {
    // Cloud KMS answers a missing key and a denied one alike when the caller may not see it; a
    // caller with access to the ring gets NOT_FOUND for a missing key.
    if (denied.contains(name)) {
      throw Status.PERMISSION_DENIED
          .withDescription(
              "Permission 'cloudkms.cryptoKeyVersions."
                  + permission
                  + "' denied on resource '"
                  + name
                  + "' (or it may not exist).")
          .asRuntimeException();
    }
    CryptoKey key = keys.get(name);
    if (key == null) {
      throw Status.NOT_FOUND.withDescription(name + " not found.").asRuntimeException();
    }
    return key;
  }

  private static void requireEnabled(CryptoKey key, Version version) {
    CryptoKeyVersionState state = version.state;
    if (state != CryptoKeyVersionState.ENABLED) {
      throw Status.FAILED_PRECONDITION
          .withDescription(
              key.name
                  + "/cryptoKeyVersions/"
                  + version.number
                  + " is not enabled, current state is: "
                  + state
                  + ".")
          .asRuntimeException();
    }
  }

  private static void checkCrc(boolean present, Int64Value crc, byte[] data, String field) {
    if (present && crc.getValue() != crc32c(data).getValue()) {
      throw invalid(
          "The checksum in field " + field + "_crc32c did not match the data in field " + field);
    }
  }

  private static StatusRuntimeException invalid(String message) {
    return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
  }

  private static byte[] gcm(int mode, Version version, byte[] nonce, byte[] aad, byte[] input) {
    try {
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(mode, new SecretKeySpec(version.key, "AES"), new GCMParameterSpec(128, nonce));
      cipher.updateAAD(aad);
      return cipher.doFinal(input);
    } catch (AEADBadTagException e) {
      throw invalid(DECRYPTION_FAILED);
    } catch (GeneralSecurityException e) {
      throw Status.INTERNAL.withDescription(e.toString()).asRuntimeException();
    }
  }

  private static ByteString copy(ByteString bytes) {
    return ByteString.copyFrom(bytes.toByteArray());
  }

  private static Int64Value crc32c(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return Int64Value.of(crc.getValue());
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private CryptoKey cryptoKey(URI uri) {
    CryptoKey key = keys.get(resourceName(uri));
    if (key == null) {
      throw new IllegalArgumentException("no such key: " + uri);
    }
    return key;
  }

  private static String resourceName(URI uri) {
    return uri.toString().substring("gcp-kms://".length());
  }

  private static final class CryptoKey {
    final String name;
    private final List<Version> versions = new ArrayList<>(); // guarded by this
    private Version primary; // guarded by this

    CryptoKey(String name) {
      this.name = name;
    }

    synchronized int addVersion() {
      byte[] key = new byte[32];
      RANDOM.nextBytes(key);
      primary = new Version(versions.size() + 1, key);
      versions.add(primary);
      return primary.number;
    }

    synchronized Version primary() {
      return primary;
    }

    synchronized Version findVersion(int number) {
      return number >= 1 && number <= versions.size() ? versions.get(number - 1) : null;
    }

    Version version(int number) {
      Version v = findVersion(number);
      if (v == null) {
        throw Status.NOT_FOUND
            .withDescription(name + "/cryptoKeyVersions/" + number + " not found.")
            .asRuntimeException();
      }
      return v;
    }
  }

  private static final class Version {
    final int number;
    final byte[] key;
    volatile CryptoKeyVersionState state = CryptoKeyVersionState.ENABLED;

    Version(int number, byte[] key) {
      this.number = number;
      this.key = key;
    }
  }
}
