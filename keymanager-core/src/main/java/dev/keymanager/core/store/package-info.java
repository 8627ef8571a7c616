/**
 * The built-in KEK stores. Public: {@link dev.keymanager.core.store.KekStores}, whose factories
 * return an in-memory store (tests and single-process tools) and a durable file store (one
 * directory per KEK, each record written to a temporary file, fsynced and renamed under a store
 * lock). Everything else in this package is internal.
 *
 * <table>
 *   <caption>What lives where</caption>
 *   <tr><th>class</th><th>what it does</th></tr>
 *   <tr><td>{@code KekStores}</td><td>the factories</td></tr>
 *   <tr><td>{@code InMemoryKekStore}</td><td>records and heads in concurrent maps</td></tr>
 *   <tr><td>{@code FileKekStore}</td><td>records and heads in files, one create-if-absent and
 *       one compare-and-set for both</td></tr>
 *   <tr><td>{@code DurableFiles}</td><td>write to a temporary file, fsync, rename, fsync the
 *       directory</td></tr>
 *   <tr><td>{@code StoreLock}</td><td>the lock that serialises writers across processes</td></tr>
 *   <tr><td>{@code KekRecordCodec}</td><td>the binary record and head formats</td></tr>
 * </table>
 *
 * <p>The argument checks every store makes live in the api, {@link
 * dev.keymanager.spi.KekStoreChecks}, so stores of your own refuse the same arguments.
 */
package dev.keymanager.core.store;
