//! Merchant category codes (ISO 18245) and their descriptions, for the
//! receipt. The common retail, food, travel and service codes; any other
//! code prints as "MCC nnnn".

/// (code, description), sorted by code.
const TABLE: &[(&str, &str)] = &[
    ("0742", "Veterinary Services"),
    ("1520", "General Contractors - Residential and Commercial"),
    ("1711", "Heating, Plumbing and Air-Conditioning Contractors"),
    (
        "4111",
        "Local and Suburban Commuter Passenger Transportation",
    ),
    ("4112", "Passenger Railways"),
    ("4121", "Taxicabs and Limousines"),
    ("4131", "Bus Lines"),
    ("4214", "Motor Freight Carriers and Trucking"),
    ("4411", "Steamship and Cruise Lines"),
    ("4511", "Airlines and Air Carriers"),
    ("4722", "Travel Agencies and Tour Operators"),
    ("4784", "Tolls and Bridge Fees"),
    ("4812", "Telecommunication Equipment and Telephone Sales"),
    ("4814", "Telecommunication Services"),
    (
        "4899",
        "Cable, Satellite and Other Pay Television and Radio Services",
    ),
    ("4900", "Utilities - Electric, Gas, Water and Sanitary"),
    (
        "5045",
        "Computers, Computer Peripheral Equipment and Software",
    ),
    (
        "5111",
        "Stationery, Office Supplies and Printing and Writing Paper",
    ),
    ("5200", "Home Supply Warehouse Stores"),
    ("5211", "Lumber and Building Materials Stores"),
    ("5251", "Hardware Stores"),
    ("5261", "Nurseries and Lawn and Garden Supply Stores"),
    ("5300", "Wholesale Clubs"),
    ("5310", "Discount Stores"),
    ("5311", "Department Stores"),
    ("5331", "Variety Stores"),
    ("5399", "Miscellaneous General Merchandise"),
    ("5411", "Grocery Stores and Supermarkets"),
    ("5422", "Freezer and Locker Meat Provisioners"),
    ("5441", "Candy, Nut and Confectionery Stores"),
    ("5451", "Dairy Products Stores"),
    ("5462", "Bakeries"),
    (
        "5499",
        "Miscellaneous Food Stores - Convenience Stores and Specialty Markets",
    ),
    ("5511", "Car and Truck Dealers (New and Used)"),
    ("5533", "Automotive Parts and Accessories Stores"),
    ("5541", "Service Stations"),
    ("5542", "Automated Fuel Dispensers"),
    ("5611", "Men's and Boys' Clothing and Accessories Stores"),
    ("5621", "Women's Ready-to-Wear Stores"),
    ("5641", "Children's and Infants' Wear Stores"),
    ("5651", "Family Clothing Stores"),
    ("5655", "Sports and Riding Apparel Stores"),
    ("5661", "Shoe Stores"),
    ("5691", "Men's and Women's Clothing Stores"),
    ("5699", "Miscellaneous Apparel and Accessory Shops"),
    ("5712", "Furniture, Home Furnishings and Equipment Stores"),
    ("5722", "Household Appliance Stores"),
    ("5732", "Electronics Stores"),
    ("5734", "Computer Software Stores"),
    ("5735", "Record Stores"),
    ("5811", "Caterers"),
    ("5812", "Eating Places and Restaurants"),
    (
        "5813",
        "Drinking Places (Alcoholic Beverages) - Bars, Taverns, Nightclubs",
    ),
    ("5814", "Fast Food Restaurants"),
    ("5815", "Digital Goods - Media: Books, Movies, Music"),
    ("5816", "Digital Goods - Games"),
    ("5817", "Digital Goods - Applications (Excludes Games)"),
    ("5912", "Drug Stores and Pharmacies"),
    ("5921", "Package Stores - Beer, Wine and Liquor"),
    ("5931", "Used Merchandise and Secondhand Stores"),
    ("5932", "Antique Shops"),
    ("5940", "Bicycle Shops"),
    ("5941", "Sporting Goods Stores"),
    ("5942", "Book Stores"),
    ("5943", "Stationery, Office and School Supply Stores"),
    ("5944", "Jewelry, Watch, Clock and Silverware Stores"),
    ("5945", "Hobby, Toy and Game Shops"),
    ("5946", "Camera and Photographic Supply Stores"),
    ("5947", "Gift, Card, Novelty and Souvenir Shops"),
    ("5948", "Luggage and Leather Goods Stores"),
    ("5949", "Sewing, Needlework, Fabric and Piece Goods Stores"),
    ("5970", "Artist's Supply and Craft Shops"),
    ("5977", "Cosmetic Stores"),
    ("5992", "Florists"),
    ("5993", "Cigar Stores and Stands"),
    ("5994", "News Dealers and Newsstands"),
    ("5995", "Pet Shops, Pet Food and Supplies"),
    ("5999", "Miscellaneous and Specialty Retail Stores"),
    (
        "6011",
        "Financial Institutions - Automated Cash Disbursements",
    ),
    ("6012", "Financial Institutions - Merchandise and Services"),
    ("7011", "Lodging - Hotels, Motels and Resorts"),
    ("7210", "Laundry, Cleaning and Garment Services"),
    ("7216", "Dry Cleaners"),
    ("7230", "Barber and Beauty Shops"),
    ("7298", "Health and Beauty Spas"),
    ("7299", "Miscellaneous Personal Services"),
    ("7399", "Business Services"),
    ("7512", "Automobile Rental Agency"),
    ("7523", "Parking Lots and Garages"),
    ("7538", "Automotive Service Shops (Non-Dealer)"),
    ("7542", "Car Washes"),
    ("7832", "Motion Picture Theaters"),
    ("7922", "Theatrical Producers and Ticket Agencies"),
    (
        "7941",
        "Commercial Sports, Professional Sports Clubs and Athletic Fields",
    ),
    ("7991", "Tourist Attractions and Exhibits"),
    (
        "7995",
        "Betting, including Lottery Tickets, Casino Gaming Chips and Wagers",
    ),
    (
        "7996",
        "Amusement Parks, Circuses, Carnivals and Fortune Tellers",
    ),
    (
        "7997",
        "Membership Clubs (Sports, Recreation, Athletic), Country Clubs",
    ),
    ("7999", "Recreation Services"),
    ("8011", "Doctors"),
    ("8021", "Dentists and Orthodontists"),
    ("8042", "Optometrists and Ophthalmologists"),
    ("8062", "Hospitals"),
    ("8099", "Medical Services and Health Practitioners"),
    ("8211", "Elementary and Secondary Schools"),
    (
        "8220",
        "Colleges, Universities, Professional Schools and Junior Colleges",
    ),
    ("8299", "Schools and Educational Services"),
    ("8398", "Charitable and Social Service Organizations"),
    ("8999", "Professional Services"),
    ("9399", "Government Services"),
];

/// The description of `mcc`, if it is a code this table knows.
pub fn description(mcc: &str) -> Option<&'static str> {
    TABLE
        .binary_search_by(|(c, _)| (*c).cmp(mcc))
        .ok()
        .and_then(|i| TABLE.get(i))
        .map(|(_, d)| *d)
}

/// What a receipt prints for `mcc`: its description, or "MCC nnnn".
pub fn label(mcc: &str) -> String {
    match description(mcc) {
        Some(d) => d.to_string(),
        None => format!("MCC {mcc}"),
    }
}

/// How many codes the table describes.
pub fn known() -> usize {
    TABLE.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_four_digits() {
        for w in TABLE.windows(2) {
            if let [a, b] = w {
                assert!(a.0 < b.0, "{} before {}", a.0, b.0);
            }
        }
        assert!(TABLE
            .iter()
            .all(|(c, d)| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()) && !d.is_empty()));
        assert!(known() >= 60);
    }

    #[test]
    fn demo_codes_and_unknown_codes() {
        assert_eq!(description("5411"), Some("Grocery Stores and Supermarkets"));
        assert_eq!(description("5812"), Some("Eating Places and Restaurants"));
        assert_eq!(label("5999"), "Miscellaneous and Specialty Retail Stores");
        assert_eq!(label("0001"), "MCC 0001");
        assert_eq!(label(""), "MCC ");
    }
}
