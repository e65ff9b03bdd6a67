/**
 * The embedding API: Troupe inside a host's own Pekko application. {@link dev.troupe.embed.Troupe} is the one
 * entry point (start it in the host's actor system; generate through a {@code CompletionStage}, a Pekko Streams
 * {@code Source} or the {@link dev.troupe.embed.Generator} actor; manage models and tenants); see
 * {@code docs/embedding.md}.
 */
package dev.troupe.embed;
