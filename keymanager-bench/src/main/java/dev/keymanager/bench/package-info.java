/**
 * JMH benchmarks of keymanager's hot and cold paths, with the baselines measured in the same run:
 * raw JCE AES-256-GCM on the same wrapped-key bytes (the floor), Tink's {@code KmsEnvelopeAead}
 * over the same {@link dev.keymanager.testkit.FakeKms}, and the AWS Encryption SDK's caching
 * decrypt. Run them with {@code keymanager-bench/run.sh}; the README's Benchmarks section has the
 * commands and the latest table.
 *
 * <p>Dependencies and what each adds: keymanager-core (measured), keymanager-testkit ({@code
 * FakeKms} and its latency switch), JMH (harness; its annotation processor generates the runners),
 * Tink and the AWS Encryption SDK (the peers; this module only), slf4j-nop (no logging in the
 * measurement). The module has no {@code module-info.java}: it is not a library, its benchmarks run
 * from a shaded jar on the class path, and the ESDK has no stable module name.
 *
 * <p>{@code PayloadBenchmark} measures payload encryption through {@code
 * dev.keymanager.core.envelope.EnvelopeCipher} (one-shot and streaming) beside raw JCE and Tink
 * streaming floors of the same bytes.
 */
package dev.keymanager.bench;
