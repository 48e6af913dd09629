//! Which SIMD instruction set the integer kernels use, detected once per process.

/// The instruction set the kernels use, detected once at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust (any CPU).
    Scalar,
    /// AVX2 + FMA: `vpmaddubsw`/`vpmaddwd` for the 8-bit products.
    Avx2,
    /// AVX-512 VNNI on 256-bit vectors: one `vpdpbusd` per 32 products.
    Avx512Vnni,
}

impl Isa {
    /// The best instruction set this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx512Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Scalar
    }

    /// Whether this CPU can run the variant (a variant above [`Isa::detect`] cannot).
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            Self::Avx2 => Self::detect() != Self::Scalar,
            Self::Avx512Vnni => Self::detect() == Self::Avx512Vnni,
        }
    }

    /// The instruction set for this process: the detected one, or a lower one named by
    /// `NETGPT_KERNELS` (`scalar`, `avx2`) to rule the SIMD kernels out when debugging.
    pub fn current() -> Self {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            let detected = Self::detect();
            match std::env::var("NETGPT_KERNELS").as_deref() {
                Ok("scalar") => Self::Scalar,
                Ok("avx2") if detected != Self::Scalar => Self::Avx2,
                _ => detected,
            }
        })
    }
}
