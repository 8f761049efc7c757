//! IPv4 CIDR blocks, parsed and compared at synthesis.

use std::fmt;

/// An IPv4 CIDR block such as `10.192.0.0/16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; the address must be the first of its block.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a CIDR block; write it as `10.0.0.0/16`"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`{text}` has prefix length `{prefix}`; use 0 to 32"))?;
        let base = parse_address(address)
            .ok_or_else(|| format!("`{text}` does not start with an IPv4 address"))?;
        let cidr = Cidr { base, prefix };
        if base & !cidr.mask() != 0 {
            return Err(format!(
                "`{text}` has host bits set; the block starts at {}",
                Cidr {
                    base: base & cidr.mask(),
                    prefix
                }
            ));
        }
        Ok(cidr)
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// Whether `address` is inside the block.
    pub fn contains(self, address: u32) -> bool {
        address & self.mask() == self.base
    }

    /// Whether the two blocks share any address.
    pub fn overlaps(self, other: Cidr) -> bool {
        let prefix = self.prefix.min(other.prefix);
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        self.base & mask == other.base & mask
    }

    /// The `index`-th block of length `prefix` inside this one, if it fits.
    pub fn subnet(self, prefix: u8, index: u32) -> Option<Cidr> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if u64::from(index) >= count {
            return None;
        }
        let size = 1u64 << (32 - prefix);
        Some(Cidr {
            base: (u64::from(self.base) + u64::from(index) * size) as u32,
            prefix,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.base.to_be_bytes();
        write!(f, "{a}.{b}.{c}.{d}/{}", self.prefix)
    }
}

/// Parses a dotted IPv4 address.
pub fn parse_address(text: &str) -> Option<u32> {
    let parts: Vec<u8> = text
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (parts.len() == 4).then(|| u32::from_be_bytes([parts[0], parts[1], parts[2], parts[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compares_and_divides_blocks() {
        let vpc = Cidr::parse("10.192.0.0/16").unwrap();
        assert!(vpc.overlaps(Cidr::parse("10.192.128.0/20").unwrap()));
        assert!(!vpc.overlaps(Cidr::parse("10.1.0.0/16").unwrap()));
        assert!(Cidr::parse("10.0.0.0/8").unwrap().overlaps(vpc));
        assert_eq!(vpc.subnet(18, 1).unwrap().to_string(), "10.192.64.0/18");
        assert_eq!(vpc.subnet(24, 255).unwrap().to_string(), "10.192.255.0/24");
        assert!(vpc.subnet(18, 4).is_none());
        assert!(vpc.contains(parse_address("10.192.3.4").unwrap()));
        assert!(
            Cidr::parse("10.192.0.1/16")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(Cidr::parse("10.192.0.0").is_err());
        assert!(Cidr::parse("10.192.0.0/33").is_err());
        assert!(Cidr::parse("300.1.1.1/8").is_err());
    }
}
