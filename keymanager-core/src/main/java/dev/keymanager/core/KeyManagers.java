package dev.keymanager.core;

import static java.util.Objects.requireNonNull;

import com.github.benmanes.caffeine.cache.Ticker;
import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.spi.AuditListener;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import java.security.Provider;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.random.RandomGenerator;

/**
 * Builds {@link KeyManager}s.
 *
 * <pre>{@code
 * KeyManager keys = KeyManagers.builder()
 *     .kekStore(KekStores.file(Path.of("/var/lib/myapp/keks")))
 *     .hardTtl(Duration.ofMinutes(5))   // the revocation bound
 *     .build();
 * }</pre>
 *
 * <p>KMS providers are found with {@link java.util.ServiceLoader} on the class path and module path
 * (the built-in {@code local-kms} development provider among them), or passed explicitly with
 * {@link Builder#kmsProvider(KmsProvider)}.
 */
public final class KeyManagers {
  /** The default hard TTL of a cached KEK. */
  public static final Duration DEFAULT_HARD_TTL = Duration.ofMinutes(5);

  /** The default time a KMS denial is remembered. */
  public static final Duration DEFAULT_NEGATIVE_TTL = Duration.ofSeconds(10);

  /** The default longest wait of a caller for a KEK being unwrapped. */
  public static final Duration DEFAULT_LOAD_TIMEOUT = Duration.ofSeconds(10);

  /** The default number of threads making KMS calls. */
  public static final int DEFAULT_KMS_THREADS = 4;

  /** The default bound on the number of cached KEK versions. */
  public static final long DEFAULT_MAXIMUM_CACHED_KEKS = 10_000;

  /** The default {@link Builder#maximumCachedSubkeys(long)}. */
  public static final long DEFAULT_MAXIMUM_CACHED_SUBKEYS = SubkeyCache.DEFAULT_MAXIMUM;

  /** The default shortest pending window before a KEK's destruction: 7 days, as AWS KMS. */
  public static final Duration DEFAULT_MINIMUM_DESTRUCTION_WINDOW = Duration.ofDays(7);

  /** The default longest pending window before a KEK's destruction: 30 days, as AWS KMS. */
  public static final Duration DEFAULT_MAXIMUM_DESTRUCTION_WINDOW = Duration.ofDays(30);

  private KeyManagers() {}

  /** A new builder with the defaults documented on each setter. */
  public static Builder builder() {
    return new Builder();
  }

  /** Configures a {@link KeyManager}; not thread-safe, reusable. */
  public static final class Builder {
    private KekStore store;
    private final List<KmsProvider> providers = new ArrayList<>();
    private boolean discover = true;
    private boolean allowDevelopmentKms;
    private ClassLoader classLoader;
    private final Set<String> allowedSchemes = new LinkedHashSet<>();
    private Duration hardTtl = DEFAULT_HARD_TTL;
    private Duration refreshAhead; // default: a fifth of the hard TTL
    private Duration refreshJitter; // default: a quarter of hardTtl - refreshAhead
    private double kmsRate; // 0: no token bucket
    private int kmsBurst;
    private RandomGenerator jitterRandom; // null: ThreadLocalRandom
    private Duration negativeTtl = DEFAULT_NEGATIVE_TTL;
    private Duration loadTimeout = DEFAULT_LOAD_TIMEOUT;
    private int kmsThreads = DEFAULT_KMS_THREADS;
    private boolean kmsThreadsSet;
    private Executor kmsExecutor;
    private Provider jcaProvider;
    private long maximumCachedKeks = DEFAULT_MAXIMUM_CACHED_KEKS;
    private long maximumCachedSubkeys = DEFAULT_MAXIMUM_CACHED_SUBKEYS;
    private InstantSource clock;
    private final List<AuditListener> auditListeners = new ArrayList<>();
    private Duration minimumDestructionWindow = DEFAULT_MINIMUM_DESTRUCTION_WINDOW;
    private Duration maximumDestructionWindow = DEFAULT_MAXIMUM_DESTRUCTION_WINDOW;
    private boolean storeChangeNotices = true;

    private Builder() {}

    /** Where KEK records live; required. See {@link dev.keymanager.core.store.KekStores}. */
    public Builder kekStore(KekStore store) {
      this.store = requireNonNull(store, "store");
      return this;
    }

    /**
     * Adds a KMS provider to use for its scheme, ahead of any discovered provider for the same
     * scheme. The caller keeps ownership: the key manager does not close it.
     */
    public Builder kmsProvider(KmsProvider provider) {
      providers.add(requireNonNull(provider, "provider"));
      return this;
    }

    /**
     * Whether to discover KMS providers with {@link java.util.ServiceLoader}; default {@code true}.
     * Discovered providers are closed with the key manager.
     */
    public Builder discoverProviders(boolean discover) {
      this.discover = discover;
      return this;
    }

    /**
     * Lets discovery pick up the development KMS providers: core's {@code local-kms} (a master key
     * in a local file) and the test kit's {@code fake-kms} (keys derived from the CMK's name).
     * Default: off, so that a development provider on a production class path is never used; a CMK
     * URI of a development scheme then fails with a {@link KeyManagerConfigException} that says to
     * call this. A development provider passed to {@link #kmsProvider} is used without this opt-in.
     * Never call it in production.
     */
    public Builder allowDevelopmentKms() {
      this.allowDevelopmentKms = true;
      return this;
    }

    /**
     * The class loader to discover providers with; default: the thread's context class loader, else
     * this class's loader.
     */
    public Builder classLoader(ClassLoader classLoader) {
      this.classLoader = requireNonNull(classLoader, "classLoader");
      return this;
    }

    /**
     * Restricts the CMK URI schemes the key manager will use, such as {@code "aws-kms"}; by default
     * every scheme that has a provider. Naming a development scheme ({@code local-kms}, {@code
     * fake-kms}) also needs {@link #allowDevelopmentKms()} or an explicit provider for it.
     */
    public Builder allowedSchemes(Set<String> schemes) {
      requireNonNull(schemes, "schemes");
      allowedSchemes.clear();
      for (String s : schemes) {
        allowedSchemes.add(requireNonNull(s, "scheme").toLowerCase(Locale.ROOT));
      }
      return this;
    }

    /**
     * The longest a plaintext KEK is used after the KMS unwrap that produced it; default {@link
     * #DEFAULT_HARD_TTL} (5 minutes). This is the revocation bound: once a customer revokes their
     * CMK, operations under it stop within this duration. Shorter means faster revocation and more
     * KMS calls (one per KEK per TTL); five minutes matches the AWS Encryption SDK's guidance for
     * cached data keys and keeps KMS traffic negligible.
     *
     * @throws IllegalArgumentException if not positive or longer than one day
     */
    public Builder hardTtl(Duration hardTtl) {
      requireNonNull(hardTtl, "hardTtl");
      if (hardTtl.isNegative() || hardTtl.isZero() || hardTtl.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("hardTtl must be in (0, 1 day]: " + hardTtl);
      }
      this.hardTtl = hardTtl;
      return this;
    }

    /**
     * How long before its hard TTL a KEK in use is unwrapped again in the background; default a
     * fifth of the hard TTL (one minute of five). The first use of a KEK in that window starts one
     * KMS call; success renews the hard TTL, so steady traffic never waits on the KMS. A denial
     * evicts the KEK at once (revocation takes effect then, not at the TTL); a transient failure
     * keeps it until its hard TTL and is retried by later uses every 1/32 of the hard TTL. Zero
     * turns refresh-ahead off: every KEK then expires at its hard TTL and the next use waits.
     *
     * @throws IllegalArgumentException if negative or not shorter than the hard TTL
     */
    public Builder refreshAhead(Duration refreshAhead) {
      requireNonNull(refreshAhead, "refreshAhead");
      if (refreshAhead.isNegative()) {
        throw new IllegalArgumentException("refreshAhead must not be negative: " + refreshAhead);
      }
      this.refreshAhead = refreshAhead;
      return this;
    }

    /**
     * How far before {@code hardTtl - refreshAhead} each cached KEK's refresh may start: every
     * entry draws its refresh time uniformly from this window, ending at {@code hardTtl -
     * refreshAhead} (never later, so the time left to refresh before the hard TTL only grows).
     * Default a quarter of {@code hardTtl - refreshAhead} (one minute at the default five-minute
     * TTL).
     *
     * <p>Without it, key managers started together (a deploy) load their KEKs at one instant and
     * refresh them together forever after, so the KMS sees a burst of every node's calls once per
     * refresh interval; with it, the burst spreads over the window after one interval, and wider on
     * every later one. The cost: refreshes come on average half the window earlier, so a key
     * manager makes {@code (hardTtl - refreshAhead) / (hardTtl - refreshAhead - jitter / 2)} times
     * the KMS calls (about 14 % more at the default). {@code docs/fleet.md} has the numbers. Zero
     * turns it off.
     *
     * @throws IllegalArgumentException if negative
     * @throws KeyManagerConfigException from {@link #build()} if longer than {@code hardTtl -
     *     refreshAhead}
     */
    public Builder refreshJitter(Duration jitter) {
      requireNonNull(jitter, "jitter");
      if (jitter.isNegative()) {
        throw new IllegalArgumentException("refreshJitter must not be negative: " + jitter);
      }
      this.refreshJitter = jitter;
      return this;
    }

    /**
     * Limits this key manager's KMS unwraps (cache loads and refreshes) with a token bucket: at
     * most {@code burst} at once, refilled at {@code callsPerSecond}, so in any {@code t} seconds
     * the KMS sees at most {@code burst + callsPerSecond * t} unwraps from it. Default: no limit.
     *
     * <p>Refreshes yield to misses: a refresh that finds no permit is deferred and its KEK keeps
     * serving until its hard TTL; a miss takes the next permit ahead of all refreshes and waits for
     * it within {@link #loadTimeout}, else fails at once with {@link
     * dev.keymanager.KmsUnavailableException} (retryable) without calling the KMS. Set the rate
     * above the natural load, {@code hot KEKs / (hardTtl - refreshAhead - refreshJitter / 2)} per
     * second: below it, refreshes fall behind and KEKs start passing their hard TTL (so callers
     * wait for misses) once the burst and the refresh-ahead window are used up ({@code
     * docs/fleet.md}). KEK creation, rotation and CMK changes (wraps) are not limited.
     *
     * <p>Independently of this setting, a KMS answer marked as throttling ({@link
     * dev.keymanager.KmsUnavailableException#isThrottled()}) makes the key manager back off all its
     * refreshes together (exponentially from 1 s, at most a quarter of {@code refreshAhead},
     * honouring the KMS's Retry-After up to that), then probe with one call.
     *
     * @throws IllegalArgumentException if the rate is not positive and finite, or the burst is
     *     below 1
     */
    public Builder kmsRateLimit(double callsPerSecond, int burst) {
      if (!(callsPerSecond > 0) || Double.isInfinite(callsPerSecond)) {
        throw new IllegalArgumentException(
            "kmsRateLimit callsPerSecond must be positive and finite: " + callsPerSecond);
      }
      if (burst < 1) {
        throw new IllegalArgumentException("kmsRateLimit burst must be >= 1: " + burst);
      }
      this.kmsRate = callsPerSecond;
      this.kmsBurst = burst;
      return this;
    }

    /** The jitter's random source, so a simulation over a manual clock is reproducible. */
    @VisibleForTesting
    Builder jitterRandom(RandomGenerator random) {
      this.jitterRandom = requireNonNull(random, "random");
      return this;
    }

    /**
     * How long a KMS denial (CMK disabled, access denied, key not found) is remembered for its KEK;
     * default {@link #DEFAULT_NEGATIVE_TTL} (10 seconds). Within it, uses of the KEK fail at once
     * with {@link dev.keymanager.KeyAccessDeniedException} and no KMS call, so a revoked CMK is not
     * hammered; after a customer restores access, it takes effect within this time. Transient
     * failures are never remembered. Zero turns the negative cache off.
     *
     * @throws IllegalArgumentException if negative or longer than one hour
     */
    public Builder negativeTtl(Duration negativeTtl) {
      requireNonNull(negativeTtl, "negativeTtl");
      if (negativeTtl.isNegative() || negativeTtl.compareTo(Duration.ofHours(1)) > 0) {
        throw new IllegalArgumentException("negativeTtl must be in [0, 1 hour]: " + negativeTtl);
      }
      this.negativeTtl = negativeTtl;
      return this;
    }

    /**
     * The longest a caller waits for a KEK being unwrapped by the KMS; default {@link
     * #DEFAULT_LOAD_TIMEOUT} (10 seconds). Past it the caller gets {@link
     * dev.keymanager.KmsUnavailableException} (retryable) while the call goes on in the background
     * and fills the cache if it succeeds. Concurrent callers of one KEK share one KMS call.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder loadTimeout(Duration loadTimeout) {
      requireNonNull(loadTimeout, "loadTimeout");
      if (loadTimeout.isNegative() || loadTimeout.isZero()) {
        throw new IllegalArgumentException("loadTimeout must be positive: " + loadTimeout);
      }
      this.loadTimeout = loadTimeout;
      return this;
    }

    /**
     * The number of threads that make KMS calls (cache loads and refreshes), so that callers never
     * make them under their own locks; default {@link #DEFAULT_KMS_THREADS}. They are daemon
     * threads named {@code keymanager-kms-*}, started on demand, ended when idle for 30 seconds and
     * shut down by {@link KeyManager#close()}.
     *
     * @throws IllegalArgumentException if below 1 or above 256
     */
    public Builder kmsThreads(int threads) {
      if (threads < 1 || threads > 256) {
        throw new IllegalArgumentException("kmsThreads must be in [1, 256]: " + threads);
      }
      this.kmsThreads = threads;
      this.kmsThreadsSet = true;
      return this;
    }

    /**
     * Runs the key manager's KMS calls (cache loads, refreshes, warm-up, the store reads of the
     * asynchronous path) on {@code executor} instead of a pool of its own, for engines that manage
     * their threads themselves. The caller keeps ownership: {@link KeyManager#close()} does not
     * shut it down, and KMS calls running on it when the key manager closes are not interrupted
     * (their results are dropped and wiped). Default: an owned pool of {@link #kmsThreads} threads.
     *
     * <p>The executor should run each task soon and on a thread other than the submitter's: its
     * threads make blocking KMS calls, so never pass an event loop, and a {@code Runnable::run}
     * executor makes every miss block its caller, {@link
     * dev.keymanager.DataKeyService#unwrapDekAsync} included. KMS calls run at most as many at once
     * as the executor allows. An executor that rejects a task fails that load with {@link
     * IllegalStateException}.
     *
     * @throws KeyManagerConfigException from {@link #build()} if {@link #kmsThreads} was also set
     */
    public Builder kmsExecutor(Executor executor) {
      this.kmsExecutor = requireNonNull(executor, "executor");
      return this;
    }

    /**
     * The JCA provider for the key manager's own cryptography: AES-256-GCM of DEK wraps and
     * unwraps, and HMAC-SHA256 of the subkey derivation (HKDF). Default: the JDK's provider list in
     * its configured order (SunJCE on a stock JDK). Pass a FIPS-validated provider, such as Bouncy
     * Castle's, to run those operations on it; the wire format is the same, so keys wrapped under
     * one provider unwrap under another.
     *
     * <p>What zeroization guarantees become depends on the provider: the JDK's AES-GCM and HMAC
     * overwrite the key copies they take, and this library scrubs the ciphers it keeps, so no key
     * bytes outlive their use on the heap; other providers may keep copies the library cannot reach
     * until the garbage collector reclaims them. {@code docs/api.md} records what the heap scan
     * finds under Bouncy Castle. One-shot payloads of {@code EnvelopeCipher} built on this key
     * manager (or its {@link KeyManager#dataPathOnly()} view) also run on it; its streaming
     * payloads run on Tink, which takes its cipher and MAC from the JDK's provider list, not from
     * this option (the {@code EnvelopeCipher} class comment says how to put a provider first). The
     * development {@code local-kms} is not affected.
     *
     * @throws IllegalArgumentException if the provider offers AES/GCM/NoPadding or HmacSHA256 not
     *     (checked by {@link #build()})
     */
    public Builder jcaProvider(Provider provider) {
      this.jcaProvider = requireNonNull(provider, "provider");
      return this;
    }

    /**
     * The most KEK versions held in plaintext at once; default {@link
     * #DEFAULT_MAXIMUM_CACHED_KEKS}. Past it the least useful are evicted and overwritten.
     *
     * <p>Memory, measured on JDK 17 (compressed pointers) with class histograms of live objects
     * over 10,000 cached KEKs: about 1.2 KiB (1,178 bytes) per cached KEK used for unwrap only (one
     * unwrap subkey), about 2.4 KiB (2,407 bytes) used for wrap and unwrap; each further unwrap
     * subkey (another writer's salt, bounded by {@link #maximumCachedSubkeys(long)}) about 0.9 KiB
     * (935 bytes); a KEK that a second thread wraps under too grows padded reference counts and
     * cipher slots once (1,328 bytes more with wrap and one salt; unwraps take no reference count,
     * so reading threads add nothing); a subkey used by several threads at the same moment grows
     * its cipher slots (640 bytes) and keeps one more keyed AES-GCM cipher (about 0.8 KiB) per
     * concurrent thread, at most 4 more. The command: {@code ./mvnw -B -ntp -q -pl keymanager-bench
     * -am -DskipTests -Djacoco.skip=true package && java -Xmx2g -cp
     * keymanager-bench/target/benchmarks.jar dev.keymanager.bench.HeapPerKek 10000}. Sizing for
     * many tenants (maximumCachedKeks, maximumCachedSubkeys and {@code -Xmx} for 100,000): {@code
     * docs/concepts-and-cache.md}, "Sizing the cache".
     *
     * @throws IllegalArgumentException if below 1
     */
    public Builder maximumCachedKeks(long maximum) {
      if (maximum < 1) {
        throw new IllegalArgumentException("maximumCachedKeks must be >= 1: " + maximum);
      }
      this.maximumCachedKeks = maximum;
      return this;
    }

    /**
     * The most unwrap subkeys held at once across all cached KEKs; default {@link
     * #DEFAULT_MAXIMUM_CACHED_SUBKEYS}. A DEK is wrapped under a subkey derived from its KEK with
     * the salt its writer picked (one salt per writer process and KEK version, kept across
     * refreshes); a reader keeps the subkey for each salt it meets so that the next unwrap under it
     * needs no key derivation. Past the bound the least useful, from any KEK, are overwritten; a
     * later unwrap under one derives it again (an HKDF and an AES key set-up). Subkeys never
     * outlive their KEK: eviction, expiry, a lifecycle change or a denial wipes them with it. The
     * wrap subkey each KEK uses for its own wraps is not counted here.
     *
     * <p>Memory: each unwrap subkey about 0.9 KiB (935 bytes, measured as for {@link
     * #maximumCachedKeks(long)}); the first one of a KEK is counted in that KEK's 1.2 KiB.
     *
     * @throws IllegalArgumentException if below 1
     */
    public Builder maximumCachedSubkeys(long maximum) {
      if (maximum < 1) {
        throw new IllegalArgumentException("maximumCachedSubkeys must be >= 1: " + maximum);
      }
      this.maximumCachedSubkeys = maximum;
      return this;
    }

    /**
     * The clock for record timestamps and cache expiry; default the system clock, with expiry
     * measured on {@link System#nanoTime()} so wall-clock jumps cannot stretch the TTL. Tests pass
     * a clock they advance by hand.
     */
    public Builder clock(InstantSource clock) {
      this.clock = requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Adds a listener that receives one {@link dev.keymanager.spi.AuditEvent} per KMS call and per
     * KEK lifecycle step, in addition to the line every event writes to the SLF4J logger {@code
     * dev.keymanager.audit}. Listeners are called in the order added.
     */
    public Builder auditListener(AuditListener listener) {
      auditListeners.add(requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * The shortest pending window {@link dev.keymanager.KekAdmin#scheduleKekDestruction} accepts;
     * default {@link #DEFAULT_MINIMUM_DESTRUCTION_WINDOW} (7 days). Zero allows destroying at once.
     *
     * @throws IllegalArgumentException if negative
     */
    public Builder minimumDestructionWindow(Duration window) {
      requireNonNull(window, "window");
      if (window.isNegative()) {
        throw new IllegalArgumentException("minimumDestructionWindow must be >= 0: " + window);
      }
      this.minimumDestructionWindow = window;
      return this;
    }

    /**
     * The longest pending window {@link dev.keymanager.KekAdmin#scheduleKekDestruction} accepts;
     * default {@link #DEFAULT_MAXIMUM_DESTRUCTION_WINDOW} (30 days).
     *
     * @throws IllegalArgumentException if negative
     */
    public Builder maximumDestructionWindow(Duration window) {
      requireNonNull(window, "window");
      if (window.isNegative()) {
        throw new IllegalArgumentException("maximumDestructionWindow must be >= 0: " + window);
      }
      this.maximumDestructionWindow = window;
      return this;
    }

    /**
     * Whether the key manager follows the store's change feed ({@link KekStore#subscribe}), where
     * the store offers one; default {@code true}. On each notice the cached plaintext of the KEK
     * named (and its cached primary version) is dropped and wiped, so a disable, a destruction or a
     * rotation made by another process sharing the store takes effect here as soon as the notice
     * arrives instead of within the hard TTL; when the feed may have lost notices (a reconnect),
     * everything cached is dropped. The hard TTL stays the bound when notices are late or lost. A
     * notice costs a store read and a KMS unwrap at the next use of that KEK. A store without a
     * feed (the built-in stores) is unaffected. Default on because a store offers a feed only when
     * configured to (see the store's documentation), and following it only ever shortens how long a
     * changed KEK is used; {@code false} ignores the feed.
     */
    public Builder storeChangeNotices(boolean follow) {
      this.storeChangeNotices = follow;
      return this;
    }

    /**
     * Builds the key manager. Makes no KMS call.
     *
     * @throws KeyManagerConfigException if no store was set, two providers claim one scheme, a
     *     provider cannot be loaded, or an allowed scheme has no provider (a development scheme
     *     without {@link #allowDevelopmentKms()} has none)
     * @throws IllegalArgumentException if the minimum destruction window exceeds the maximum
     */
    public KeyManager build() {
      return build(discover ? KmsRegistry.discover(effectiveClassLoader()) : List.of());
    }

    /** Builds with a given set of discovered providers: {@link #build()}, and a seam for tests. */
    @VisibleForTesting
    KeyManager build(Iterable<KmsProvider> discovered) {
      if (store == null) {
        throw new KeyManagerConfigException("No KEK store configured: call kekStore(...)");
      }
      if (refreshAhead != null && refreshAhead.compareTo(hardTtl) >= 0) {
        throw new KeyManagerConfigException(
            "refreshAhead (" + refreshAhead + ") must be shorter than hardTtl (" + hardTtl + ")");
      }
      Duration interval = hardTtl.minus(effectiveRefreshAhead());
      if (refreshJitter != null && refreshJitter.compareTo(interval) > 0) {
        throw new KeyManagerConfigException(
            "refreshJitter ("
                + refreshJitter
                + ") must not be longer than hardTtl - refreshAhead ("
                + interval
                + "): refreshes would start before the KEK is loaded");
      }
      if (jcaProvider != null) {
        Jca.of(jcaProvider); // fails now, before any KMS provider is opened
      }
      if (kmsExecutor != null && kmsThreadsSet) {
        throw new KeyManagerConfigException(
            "kmsThreads and kmsExecutor were both set: the thread count is the executor's own");
      }
      if (minimumDestructionWindow.compareTo(maximumDestructionWindow) > 0) {
        throw new IllegalArgumentException(
            "minimumDestructionWindow "
                + minimumDestructionWindow
                + " exceeds maximumDestructionWindow "
                + maximumDestructionWindow);
      }
      return new DefaultKeyManager(
          this,
          KmsRegistry.of(providers, discovered, Set.copyOf(allowedSchemes), allowDevelopmentKms));
    }

    private ClassLoader effectiveClassLoader() {
      if (classLoader != null) {
        return classLoader;
      }
      ClassLoader context = Thread.currentThread().getContextClassLoader();
      return context != null ? context : KeyManagers.class.getClassLoader();
    }

    KekStore store() {
      return store;
    }

    boolean storeChangeNotices() {
      return storeChangeNotices;
    }

    List<AuditListener> auditListeners() {
      return List.copyOf(auditListeners);
    }

    Duration minimumDestructionWindow() {
      return minimumDestructionWindow;
    }

    Duration maximumDestructionWindow() {
      return maximumDestructionWindow;
    }

    Duration hardTtl() {
      return hardTtl;
    }

    long maximumCachedKeks() {
      return maximumCachedKeks;
    }

    KekCache.CacheSettings cacheSettings() {
      Duration ahead = effectiveRefreshAhead();
      return new KekCache.CacheSettings(
          hardTtl,
          ahead,
          refreshJitter != null ? refreshJitter : hardTtl.minus(ahead).dividedBy(4),
          negativeTtl,
          loadTimeout,
          maximumCachedKeks,
          maximumCachedSubkeys,
          jcaProvider == null ? Jca.DEFAULT : Jca.of(jcaProvider),
          kmsRate,
          kmsBurst,
          jitterRandom);
    }

    private Duration effectiveRefreshAhead() {
      return refreshAhead != null ? refreshAhead : hardTtl.dividedBy(5);
    }

    int kmsThreads() {
      return kmsThreads;
    }

    Executor kmsExecutor() {
      return kmsExecutor;
    }

    InstantSource clock() {
      return clock != null ? clock : InstantSource.system();
    }

    Ticker ticker() {
      if (clock == null) {
        return Ticker.systemTicker();
      }
      InstantSource c = clock;
      return () -> {
        Instant now = c.instant();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
      };
    }
  }
}
