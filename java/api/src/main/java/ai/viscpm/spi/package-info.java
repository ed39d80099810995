/**
 * The seam between the public API and the engines that run the models (internal: for the
 * engines of this project, not a stable extension point). {@link ai.viscpm.chat.ChatModel},
 * {@link ai.viscpm.chat.ChatSession} and {@link ai.viscpm.paint.PaintModel} keep the public
 * behaviour (closing, use after close, timings, argument checks) and delegate the model work to
 * a backend of the engine that {@link ai.viscpm.ModelOptions#engine()} names: the native engine
 * is built in; others are found with {@link java.util.ServiceLoader} as {@link EngineProvider}s
 * (the JVM engine's is in {@code ai.viscpm:viscpm-engine-jvm}).
 *
 * <p>The front objects call a backend only while it is open and close it once, with no call in
 * flight; a backend need not guard against use after close.
 */
package ai.viscpm.spi;
