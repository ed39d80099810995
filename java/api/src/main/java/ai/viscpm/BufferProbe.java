package ai.viscpm;

/**
 * What the native side saw of a buffer passed to it: its address and the sum of its bytes
 * computed by a LibTorch op over that memory in place.
 */
public record BufferProbe(long address, long byteSum) {}
