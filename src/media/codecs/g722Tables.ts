/**
 * Constant tables of ITU-T G.722 (64 kbit/s, mode 1), as the standard gives them. Kept apart
 * from the codec so the algorithm reads without pages of numbers in between.
 */

/**
 * The 24 QMF coefficients, h(0)..h(23), symmetric. Each half (even or odd taps) sums to 4096, so
 * a band sample carries half the input amplitude and the receive side's `>> 11` restores it.
 */
export const QMF_COEFFS = Int32Array.of(
  3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876,
  3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3,
);

/**
 * Lower-band decision levels Q6(1..29), in units of the scale factor / 4096. Index 0 is a
 * placeholder so the interval number indexes this directly; 30 and 31 pad it to a power of two
 * for the encoder's binary search, which never steps onto them.
 */
export const Q6 = Int32Array.of(
  0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
  786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
);

/** Six-bit code for a negative difference in quantiser interval 1..30 (ILN). */
export const ILN = Int32Array.of(
  0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
  18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 0,
);

/** Six-bit code for a positive difference in quantiser interval 1..30 (ILP). */
export const ILP = Int32Array.of(
  0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
  46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 0,
);

/** ILP then ILN, so the code is one lookup at (negative ? 32 : 0) + interval. */
export const IL_BY_SIGN = Int32Array.of(...ILP, ...ILN);

/**
 * Six-bit inverse quantiser output (QM6), indexed by the lower-band code. Codes 0..3 are never
 * sent by a conforming encoder; the standard still maps them, to the smallest negative level.
 */
export const QM6 = Int32Array.of(
  -136, -136, -136, -136, -24808, -21904, -19008, -16704,
  -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
  -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
  -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
  24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
  10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
  4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
  1688, 1360, 1040, 728, 432, 136, -432, -136,
);

/**
 * Four-bit inverse quantiser output (QM4), indexed by the code's top four bits. Adaptation runs
 * on this truncated value so that the 56 and 48 kbit/s modes (which drop low-band bits) stay in
 * step with the encoder.
 */
export const QM4 = Int32Array.of(
  0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
  20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
);

/** Magnitude class 0..7 of a four-bit lower-band code (RIL → IL4). */
export const RL42 = Int32Array.of(0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0);

/** Lower-band log scale-factor multiplier per magnitude class (WL). */
export const WL = Int32Array.of(-60, -30, 58, 172, 334, 538, 1198, 3042);

/** Mantissa of the log-to-linear scale factor conversion, 2^(i/32) · 2048 (ILB). */
export const ILB = Int32Array.of(
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
  2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
);

/** WL(RL42(code4)) folded into one lookup, as the adaptation needs it. */
export const WL_BY_CODE4 = Int32Array.from(RL42, (cls) => WL[cls] ?? 0);

/** Two-bit higher-band inverse quantiser output (QM2), indexed by the code. */
export const QM2 = Int32Array.of(-7408, -1616, 7408, 1616);

/** Magnitude class of a two-bit higher-band code: 2 for the outer levels, 1 for the inner (RH2). */
export const RH2 = Int32Array.of(2, 1, 2, 1);

/** Higher-band log scale-factor multiplier per magnitude class (WH). */
export const WH = Int32Array.of(0, -214, 798);

/** WH(RH2(code)) folded into one lookup. */
export const WH_BY_CODE = Int32Array.from(RH2, (cls) => WH[cls] ?? 0);
