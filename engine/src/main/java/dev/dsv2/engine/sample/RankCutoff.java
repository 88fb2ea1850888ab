package dev.dsv2.engine.sample;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Top-k and nucleus (top-p) truncation over a full row of softmax weights, without sorting the vocab.
 *
 * <p>Input: {@code w[0..n)}, the unnormalised weights of {@link SoftmaxKernel#expWeights} (in {@code [0, 1]}),
 * and their sum {@code z}. Tokens are ranked by weight, higher first, equal weights by lower id; tokens of weight 0
 * are never kept. Top-k keeps the {@code k} best; top-p then keeps the shortest rank prefix of those whose mass
 * reaches {@code p} times their total. Because the kept set is always a rank prefix, the result is one cut token:
 * token {@code i} is kept iff {@code w[i] > cutWeight || (w[i] == cutWeight && i <= cutId)}, and
 * {@link #keptMass()} is the kept tokens' total weight.
 *
 * <p>How: a vector pass first measures the count and mass of the tokens above a few power-of-two weights
 * ({@link #FLOORS}) and picks the highest floor above which the cut must lie (enough tokens for top-k, enough mass
 * for top-p); tokens at or below it are left out of everything that follows. One pass then builds a histogram of the remaining
 * weights in bins that are monotone in the weight (the top bits of the double's exponent and mantissa: 8 bins per
 * factor of two, aligned to the floors) with each bin's count and mass. Walking the bins from the top finds the one
 * bin that holds the cut; only that bin's members are collected and ordered (a max-heap popped in rank order until
 * the count or mass is reached). The floor only decides how much work is done, never the result: bins above it are
 * complete, and their sums are taken in id order whichever floor was chosen. Scratch is kept between calls; one
 * instance serves one thread.
 */
final class RankCutoff {
    private static final int MANTISSA_BITS_PER_BIN = 3;
    private static final int BIN_SHIFT = 52 - MANTISSA_BITS_PER_BIN;
    private static final long ONE_BITS = Double.doubleToRawLongBits(1.0);
    /** Weights are 0 or normal doubles in [exp(-708), 1]; binOf(0) = 8184 is the last bin used (as a sink). */
    private static final int BINS = 1024 << MANTISSA_BITS_PER_BIN;
    /**
     * Candidate floors, highest first, all bin edges (a power of two is the top of a bin); 0 keeps every token of
     * positive weight. {@link #measureFloors} is unrolled for exactly these six.
     */
    private static final double[] FLOORS = {0x1p-3, 0x1p-7, 0x1p-12, 0x1p-18, 0x1p-26, 0.0};
    /** Relative slack between the vector pass's masses and the histogram's sums of the same weights. */
    private static final double MASS_MARGIN = 1e-9;
    private static final VectorSpecies<Double> DOUBLES = DoubleVector.SPECIES_PREFERRED;
    private static final int LANES = DOUBLES.length();

    private final double[] massAbove = new double[FLOORS.length];
    private final int[] countAbove = new int[FLOORS.length];

    private final double[] binMass = new double[BINS];
    private final int[] binCount = new int[BINS];
    /** Bins {@code [0, binsInUse)} hold the weights above the floor; bin {@code binsInUse} is the sink. */
    private int binsInUse;
    /** The collected bin as a max-heap by rank: ids and, side by side, their weights (compact, cache-friendly). */
    private int[] members = new int[64];
    private double[] memberWeights = new double[64];
    private int[] topKRanked = new int[64];

    private double cutWeight;
    private int cutId;
    private double keptMass;

    /** Computes the cut for {@code w[0..n)}; {@code topK <= 0} and {@code topP >= 1} disable the filters. */
    void compute(double[] w, int n, double z, int topK, double topP) {
        measureFloors(w, n);
        int positive = countAbove[FLOORS.length - 1];
        boolean topKOn = topK > 0 && topK < positive;
        double floor = chooseFloor(topKOn ? topK : 0, topP < 1.0 ? topP * z : 0.0);
        fillHistogram(w, n, floor);
        cutWeight = 0.0;
        cutId = -1;
        keptMass = z;
        int topKBin = binsInUse;
        int topKCount = 0;
        if (topKOn) {
            int count = 0;
            double mass = 0.0;
            int bin = 0;
            while (count + binCount[bin] < topK) {
                count += binCount[bin];
                mass += binMass[bin];
                bin++;
            }
            topKBin = bin;
            topKCount = topK - count;
            int size = collect(w, n, bin);
            if (topKRanked.length < topKCount) {
                topKRanked = new int[Math.max(topKCount, 2 * topKRanked.length)];
            }
            for (int j = 0; j < topKCount; j++) {
                int id = pop(size--);
                topKRanked[j] = id;
                mass += w[id];
            }
            cut(w, topKRanked[topKCount - 1], mass);
        }
        if (topP < 1.0) {
            nucleus(w, n, topP * keptMass, topKBin, topKCount);
        }
    }

    double cutWeight() {
        return cutWeight;
    }

    int cutId() {
        return cutId;
    }

    double keptMass() {
        return keptMass;
    }

    /**
     * Shortest rank prefix reaching {@code target}, walking whole bins above {@code topKBin}, then (when top-k cut
     * inside {@code topKBin}) its kept members in rank order. When rounding keeps the walk from reaching the target
     * the earlier cut stands.
     */
    private void nucleus(double[] w, int n, double target, int topKBin, int topKCount) {
        double cum = 0.0;
        int bin = 0;
        while (bin < topKBin && cum + binMass[bin] < target) {
            cum += binMass[bin];
            bin++;
        }
        for (; bin < topKBin; bin++) {
            for (int size = collect(w, n, bin); size > 0; size--) {
                int id = pop(size);
                cum += w[id];
                if (cum >= target) {
                    cut(w, id, cum);
                    return;
                }
            }
        }
        for (int j = 0; j < topKCount; j++) {
            int id = topKRanked[j];
            cum += w[id];
            if (cum >= target) {
                cut(w, id, cum);
                return;
            }
        }
    }

    private void cut(double[] w, int id, double mass) {
        cutWeight = w[id];
        cutId = id;
        keptMass = mass;
    }

    private static int binOf(double weight) {
        return (int) ((ONE_BITS - Double.doubleToRawLongBits(weight)) >>> BIN_SHIFT);
    }

    /**
     * Count and mass of the weights above each floor, vectorised and branch-free; the sums only guide
     * {@link #chooseFloor}. Counts are accumulated as doubles (exact below 2^53): blends keep C2 on vector registers
     * where masked adds with six live masks ran several times slower.
     */
    private void measureFloors(double[] w, int n) {
        DoubleVector zero = DoubleVector.zero(DOUBLES);
        DoubleVector one = DoubleVector.broadcast(DOUBLES, 1.0);
        DoubleVector m0 = zero;
        DoubleVector m1 = zero;
        DoubleVector m2 = zero;
        DoubleVector m3 = zero;
        DoubleVector m4 = zero;
        DoubleVector m5 = zero;
        DoubleVector c0 = zero;
        DoubleVector c1 = zero;
        DoubleVector c2 = zero;
        DoubleVector c3 = zero;
        DoubleVector c4 = zero;
        DoubleVector c5 = zero;
        int id = 0;
        for (int upper = DOUBLES.loopBound(n); id < upper; id += LANES) {
            DoubleVector v = DoubleVector.fromArray(DOUBLES, w, id);
            VectorMask<Double> below = v.compare(VectorOperators.LE, FLOORS[0]);
            m0 = m0.add(v.blend(0.0, below));
            c0 = c0.add(one.blend(0.0, below));
            below = v.compare(VectorOperators.LE, FLOORS[1]);
            m1 = m1.add(v.blend(0.0, below));
            c1 = c1.add(one.blend(0.0, below));
            below = v.compare(VectorOperators.LE, FLOORS[2]);
            m2 = m2.add(v.blend(0.0, below));
            c2 = c2.add(one.blend(0.0, below));
            below = v.compare(VectorOperators.LE, FLOORS[3]);
            m3 = m3.add(v.blend(0.0, below));
            c3 = c3.add(one.blend(0.0, below));
            below = v.compare(VectorOperators.LE, FLOORS[4]);
            m4 = m4.add(v.blend(0.0, below));
            c4 = c4.add(one.blend(0.0, below));
            below = v.compare(VectorOperators.LE, FLOORS[5]);
            m5 = m5.add(v.blend(0.0, below));
            c5 = c5.add(one.blend(0.0, below));
        }
        store(0, m0, c0);
        store(1, m1, c1);
        store(2, m2, c2);
        store(3, m3, c3);
        store(4, m4, c4);
        store(5, m5, c5);
        for (; id < n; id++) {
            for (int j = 0; j < FLOORS.length; j++) {
                if (w[id] > FLOORS[j]) {
                    massAbove[j] += w[id];
                    countAbove[j]++;
                }
            }
        }
    }

    private void store(int floor, DoubleVector mass, DoubleVector count) {
        massAbove[floor] = mass.reduceLanes(VectorOperators.ADD);
        countAbove[floor] = (int) count.reduceLanes(VectorOperators.ADD);
    }

    /** The highest floor with at least {@code topK} tokens and {@code targetMass} (with margin) above it. */
    private double chooseFloor(int topK, double targetMass) {
        for (int j = 0; j < FLOORS.length - 1; j++) {
            if (countAbove[j] >= topK && (topK > 0 || massAbove[j] >= targetMass * (1 + MASS_MARGIN))) {
                return FLOORS[j];
            }
        }
        return 0.0;
    }

    /**
     * Clears the previous histogram and fills this one with the weights above {@code floor}. Branch-free: a weight at
     * or below the floor (0 included) has a bin at or past {@code binOf(floor)}, so {@code min(bin, binOf(floor))}
     * sends it to that sink bin, which the walks never reach ({@link #binsInUse} stops before it). A branch on
     * {@code weight > floor} would be mispredicted for a large share of a flat row.
     */
    private void fillHistogram(double[] w, int n, double floor) {
        Arrays.fill(binMass, 0, binsInUse + 1, 0.0);
        Arrays.fill(binCount, 0, binsInUse + 1, 0);
        int sink = binOf(floor);
        int id = 0;
        for (int upper = DOUBLES.loopBound(n); id < upper; id += LANES) {
            if (DoubleVector.fromArray(DOUBLES, w, id).compare(VectorOperators.GT, floor).anyTrue()) {
                for (int j = id; j < id + LANES; j++) {
                    addToHistogram(w[j], sink);
                }
            }
        }
        for (; id < n; id++) {
            addToHistogram(w[id], sink);
        }
        binsInUse = sink;
    }

    private void addToHistogram(double weight, int sink) {
        int bin = Math.min(binOf(weight), sink);
        binMass[bin] += weight;
        binCount[bin]++;
    }

    /** Gathers the ids of {@code bin} into a max-heap (best rank at the root); returns its size. */
    private int collect(double[] w, int n, int bin) {
        int size = binCount[bin];
        if (members.length < size) {
            members = new int[Math.max(size, 2 * members.length)];
            memberWeights = new double[members.length];
        }
        // Bin b holds exactly the weights in (low, high].
        double high = Double.longBitsToDouble(ONE_BITS - ((long) bin << BIN_SHIFT));
        double low = Double.longBitsToDouble(ONE_BITS - ((long) (bin + 1) << BIN_SHIFT));
        int m = 0;
        int id = 0;
        for (int upper = DOUBLES.loopBound(n); id < upper && m < size; id += LANES) {
            DoubleVector v = DoubleVector.fromArray(DOUBLES, w, id);
            if (v.compare(VectorOperators.GT, low).and(v.compare(VectorOperators.LE, high)).anyTrue()) {
                for (int j = id; j < id + LANES; j++) {
                    if (w[j] > low && w[j] <= high) {
                        memberWeights[m] = w[j];
                        members[m++] = j;
                    }
                }
            }
        }
        for (; id < n && m < size; id++) {
            if (w[id] > low && w[id] <= high) {
                memberWeights[m] = w[id];
                members[m++] = id;
            }
        }
        for (int parent = size / 2 - 1; parent >= 0; parent--) {
            siftDown(parent, size);
        }
        return size;
    }

    /** Removes and returns the best-ranked id of the heap {@code members[0..size)}. */
    private int pop(int size) {
        int best = members[0];
        members[0] = members[size - 1];
        memberWeights[0] = memberWeights[size - 1];
        siftDown(0, size - 1);
        return best;
    }

    private void siftDown(int index, int size) {
        int[] ids = members;
        double[] weights = memberWeights;
        int node = ids[index];
        double nodeWeight = weights[index];
        while (true) {
            int child = 2 * index + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && better(weights[child + 1], ids[child + 1], weights[child], ids[child])) {
                child++;
            }
            if (!better(weights[child], ids[child], nodeWeight, node)) {
                break;
            }
            ids[index] = ids[child];
            weights[index] = weights[child];
            index = child;
        }
        ids[index] = node;
        weights[index] = nodeWeight;
    }

    private static boolean better(double weightA, int idA, double weightB, int idB) {
        return weightA > weightB || (weightA == weightB && idA < idB);
    }
}
