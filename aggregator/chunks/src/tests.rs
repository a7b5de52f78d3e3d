use super::*;

const CONFIGS: [Config; 4] = [
    Config {
        codec: Codec::Gorilla,
        decimal: false,
    },
    Config {
        codec: Codec::Gorilla,
        decimal: true,
    },
    Config {
        codec: Codec::Pco,
        decimal: false,
    },
    Config {
        codec: Codec::Pco,
        decimal: true,
    },
];

/// Encode with every config, decode, and compare bit for bit.
fn round_trip(ts: &[i64], values: &[f64]) {
    for config in CONFIGS {
        let chunk = encode(config, ts, values).expect("encode");
        let header = header(&chunk).expect("header");
        assert_eq!(header.codec, config.codec);
        assert_eq!(header.count, ts.len());
        let back = decode(&chunk).unwrap_or_else(|e| panic!("{config:?}: {e}"));
        assert_eq!(back.timestamps, ts, "{config:?}");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.values), bits(values), "{config:?}");
    }
}

#[test]
fn empty_and_single_points() {
    round_trip(&[], &[]);
    round_trip(&[0], &[0.0]);
    round_trip(&[1_764_633_600_000], &[42.5]);
    round_trip(&[-5], &[f64::NAN]);
    round_trip(&[i64::MAX], &[-0.0]);
}

#[test]
fn special_floats_come_back_bit_for_bit() {
    let nan_payload = f64::from_bits(0x7ff8_0000_dead_beef);
    let values = [
        f64::NAN,
        -f64::NAN,
        nan_payload,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        1.0,
    ];
    let ts: Vec<i64> = (0..values.len() as i64).map(|i| i * 5000).collect();
    round_trip(&ts, &values);
}

#[test]
fn huge_unsorted_and_repeated_timestamps() {
    let ts = [
        i64::MIN,
        i64::MAX,
        0,
        0,
        0,
        -1,
        i64::MAX,
        i64::MIN,
        1_764_633_600_000,
        1_764_633_595_000,
        1_764_633_595_000,
    ];
    let values: Vec<f64> = (0..ts.len()).map(|i| i as f64).collect();
    round_trip(&ts, &values);
}

#[test]
fn decimal_pre_pass_takes_only_exact_decimals() {
    let exp = |values: &[f64]| decimal(values).map(|(e, _)| e);
    assert_eq!(exp(&[1.0, 2.0, 300.0]), Some(0));
    assert_eq!(exp(&[0.29, 12.5, 99.99]), Some(2));
    assert_eq!(
        exp(&[0.1, 0.2, 0.30000000000000004]),
        None,
        "0.1 + 0.2 has 17 digits"
    );
    assert_eq!(exp(&[f64::NAN]), None);
    assert_eq!(exp(&[f64::INFINITY]), None);
    assert_eq!(exp(&[-0.0]), None, "-0.0 must keep its sign bit");
    assert_eq!(exp(&[1e300]), None, "beyond 2^53");
    assert_eq!(
        exp(&[f64::from(12.345_678_f32)]),
        None,
        "an f32's binary tail"
    );
    assert_eq!(exp(&[100.0 / 3.0]), None);
    let (e, m) = decimal(&[1.5, -2.25, 7.0]).expect("decimal");
    assert_eq!((e, m), (2, vec![150, -225, 700]));
    // A chunk that qualifies is written as decimal; one NaN puts it back
    // to floats, and both decode to the same bits.
    let ts = [0, 5000, 10000];
    for config in CONFIGS.into_iter().filter(|c| c.decimal) {
        let chunk = encode(config, &ts, &[0.25, 0.5, 99.75]).expect("encode");
        assert_eq!(header(&chunk).expect("header").exponent, Some(2));
        let chunk = encode(config, &ts, &[0.25, f64::NAN, 99.75]).expect("encode");
        assert_eq!(header(&chunk).expect("header").exponent, None);
    }
    round_trip(&ts, &[0.25, f64::NAN, 99.75]);
}

#[test]
fn mantissas_at_the_limit_and_big_integers() {
    let limit = 9_007_199_254_740_992.0;
    round_trip(&[0, 1, 2], &[limit, -limit, 0.0]);
    round_trip(&[0, 1, 2], &[limit * 2.0, 1.0, 2.0]);
    round_trip(&[0, 1, 2, 3], &[1e15, -1e15, 0.000_000_000_000_001, 5.0]);
}

#[test]
fn mismatched_columns_and_bad_chunks_are_errors() {
    let config = Config::default();
    assert_eq!(
        encode(config, &[1, 2], &[1.0]),
        Err(ChunkError::Mismatch {
            timestamps: 2,
            values: 1
        })
    );
    let chunk = encode(config, &[1, 2, 3], &[1.0, 2.0, 3.5]).expect("encode");
    assert_eq!(decode(&[]).err(), Some(ChunkError::Truncated));
    let mut other = chunk.clone();
    other[0] = 9;
    assert_eq!(decode(&other).err(), Some(ChunkError::UnknownFormat(9)));
    let mut other = chunk.clone();
    other[1] = 7;
    assert_eq!(decode(&other).err(), Some(ChunkError::UnknownCodec(7)));
    let mut other = chunk.clone();
    other[2] = 200;
    assert_eq!(decode(&other).err(), Some(ChunkError::UnknownValues(200)));
    let mut huge = vec![FORMAT, 1, 0];
    put_varint(&mut huge, MAX_POINTS + 1);
    assert_eq!(
        decode(&huge).err(),
        Some(ChunkError::TooLarge(MAX_POINTS + 1))
    );
    for c in CONFIGS {
        let chunk = encode(c, &[1, 2, 3], &[1.0, 2.0, 3.5]).expect("encode");
        for cut in 3..chunk.len() {
            assert!(decode(&chunk[..cut]).is_err(), "{c:?} cut at {cut}");
        }
    }
}

/// Random sequences of every kind the store can meet, many times over.
#[test]
fn property_random_points_round_trip() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for case in 0..400 {
        let n = match case % 5 {
            0 => rng.usize(0..4),
            1 => rng.usize(0..50),
            _ => rng.usize(0..2000),
        };
        let mut ts = Vec::with_capacity(n);
        let mut t = rng.i64(..);
        for _ in 0..n {
            t = match rng.u8(0..10) {
                0 => rng.i64(..),
                1 => t,
                2 => t.wrapping_sub(rng.i64(0..100_000)),
                _ => t.wrapping_add(5000 + rng.i64(-20..=20)),
            };
            ts.push(t);
        }
        let style = case % 4;
        let mut x = rng.f64() * 100.0;
        let values: Vec<f64> = (0..n)
            .map(|_| match style {
                0 => f64::from_bits(rng.u64(..)),
                1 => {
                    x += rng.f64() - 0.5;
                    (x * 100.0).round() / 100.0
                }
                2 => rng.i64(-1000..1000) as f64,
                _ => match rng.u8(0..8) {
                    0 => f64::NAN,
                    1 => -0.0,
                    2 => f64::INFINITY,
                    _ => rng.f64() * 1e6,
                },
            })
            .collect();
        round_trip(&ts, &values);
    }
}

#[test]
fn realistic_series_round_trip_and_compress() {
    for index in 0..realistic::SERIES_PER_HOST {
        let (ts, values) = realistic::series(1, index, 1_764_633_600_000, 720);
        round_trip(&ts, &values);
        for config in CONFIGS {
            let chunk = encode(config, &ts, &values).expect("encode");
            // Raw is 16 bytes a point; every series must come out smaller.
            assert!(
                chunk.len() < 16 * ts.len() * 3 / 4,
                "{config:?} series {index}: {}",
                chunk.len()
            );
        }
    }
}
